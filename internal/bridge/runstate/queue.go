package runstate

// This file answers questions about a conversation's run and queue.

// Duplicate reports whether runID is tracked, recently ended or queued in session key: a retry
// of a message that is answered "duplicate" and never runs twice.
func (t *Table) Duplicate(runID, key string) bool {
	if t.runs[runID] != nil || t.Ended(runID) {
		return true
	}
	_, ok := t.queued(key, runID)
	return ok
}

// queued returns the position of runID in session key's queue.
func (t *Table) queued(key, runID string) (int, bool) {
	if c := t.convs[key]; c != nil {
		for i, m := range c.queue {
			if m.RunID == runID {
				return i, true
			}
		}
	}
	return 0, false
}

// Unqueue removes the queued message runID of session key and returns its client message id, or
// reports false.
func (t *Table) Unqueue(key, runID string) (string, bool) {
	i, ok := t.queued(key, runID)
	if !ok {
		return "", false
	}
	c := t.convs[key]
	m := c.queue[i]
	c.queue = append(c.queue[:i:i], c.queue[i+1:]...)
	return m.MessageID, true
}

// Active returns the id of session key's active run ("" when none) and how many messages wait
// behind it.
func (t *Table) Active(key string) (runID string, queued int) {
	c := t.convs[key]
	if c == nil {
		return "", 0
	}
	if c.active != nil {
		runID = c.active.id
	}
	return runID, len(c.queue)
}

// ClearQueue drops the messages waiting in session key and returns its active run's id.
func (t *Table) ClearQueue(key string) string {
	c := t.convs[key]
	if c == nil {
		return ""
	}
	c.queue = nil
	if c.active != nil {
		return c.active.id
	}
	return ""
}

// SenderOf returns the account id of whoever sent run runID in session key, whether it runs or
// waits in the queue, and false when there is no such run.
func (t *Table) SenderOf(key, runID string) (string, bool) {
	if r := t.runs[runID]; r != nil && r.key == key {
		return r.senderID, true
	}
	if i, ok := t.queued(key, runID); ok {
		return t.convs[key].queue[i].Sender.ID, true
	}
	return "", false
}

// RunSender is the display name of whoever sent run runID's message in session key, or "".
func (t *Table) RunSender(runID, key string) string {
	if r := t.runs[runID]; r != nil && r.key == key {
		return r.sender
	}
	return ""
}
