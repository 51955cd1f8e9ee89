package projections

// ApplyWaiting reports how many applies wait for Read's lock (for tests).
func (l *Live) ApplyWaiting() int32 { return l.applyWaiting.Load() }
