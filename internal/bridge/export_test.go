package bridge

// WaitOrdered waits until every Gateway event deferred to a session worker (ordered.go) has been
// handled. Tests that feed HandleGatewayEvent from their own goroutine call it before they look
// at what was published.
func (s *Service) WaitOrdered() { s.slowWG.Wait() }

// AllowSend spends one token of userID's send bucket; SendBuckets is how many buckets are kept.
func (s *Service) AllowSend(userID string) bool { return s.sendLimit.Allow(userID) }
func (s *Service) SendBuckets() int             { return s.sendLimit.Len() }
