package ppp

import (
	"strings"
	"testing"
)

func TestAuthErrorSanitizesServerText(t *testing.T) {
	e := &AuthError{Method: PAP, User: "alice", Message: "bad\x1b[2Jpassword\n"}
	got := e.Error()
	if strings.ContainsAny(got, "\x1b\n") {
		t.Fatalf("control characters from the server reach the message: %q", got)
	}
	if !strings.Contains(got, "bad?[2Jpassword?") {
		t.Fatalf("message text lost: %q", got)
	}
}
