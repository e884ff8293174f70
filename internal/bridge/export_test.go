package bridge

// WaitOrdered waits until every Gateway event deferred to a session worker (bridge/ordered) has been
// handled. Tests that feed HandleGatewayEvent from their own goroutine call it before they look
// at what was published.
func (s *Service) WaitOrdered() { s.queue.Wait() }
