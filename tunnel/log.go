package tunnel

// Logger is a tiny injected logger. A nil *Logger or nil field discards.
// Never pass secrets (PSK, passwords, keys) to it.
type Logger struct {
	Debugf func(format string, args ...any)
	Infof  func(format string, args ...any)
	Errorf func(format string, args ...any)
}

func (l *Logger) debugf(format string, args ...any) {
	if l != nil && l.Debugf != nil {
		l.Debugf(format, args...)
	}
}

func (l *Logger) infof(format string, args ...any) {
	if l != nil && l.Infof != nil {
		l.Infof(format, args...)
	}
}

func (l *Logger) errorf(format string, args ...any) {
	if l != nil && l.Errorf != nil {
		l.Errorf(format, args...)
	}
}
