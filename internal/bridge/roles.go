package bridge

// UserChanged tells the service that userID's account or sessions changed (role change, sign-out,
// revocation, deletion, creation): the owners are read again, and when userID is no longer an
// owner they are removed from every Gateway session's watch list (bridge/owners), so Gateway runs
// are no longer routed to them.
func (s *Service) UserChanged(userID string) { s.ownersOf.UserChanged(userID) }
