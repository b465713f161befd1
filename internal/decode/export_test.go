package decode

// SetOnePass makes s convert in one scaled pass, for comparison benchmarks.
func (s *Scaler) SetOnePass(on bool) {
	s.sc.one_pass = 0
	if on {
		s.sc.one_pass = 1
	}
}
