package bridge

// MembersChanged tells the service that the participants of the conversation with session key
// changed (issue 13: added, removed, left, transferred): whom its events go to is read from the
// store again.
func (s *Service) MembersChanged(key string) {
	s.mu.Lock()
	delete(s.owned, key)
	s.mu.Unlock()
}
