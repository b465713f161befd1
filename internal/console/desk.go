package console

// The alarm desk (issue 14): what the wall's pop-ups, playback view, live
// vehicle log and site plan need beyond the contract's API.

// PublishPassage sends a new vehicle passage to the wall's event stream as a
// "passage" event, so that the vehicle log grows without a reload. Call it
// after Start; before, it does nothing.
func (s *Server) PublishPassage(p Passage) {
	if s.events == nil {
		return
	}
	s.events.publish("passage", p)
}
