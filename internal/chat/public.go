package chat

import "errors"

// Public returns an error of kind (one of the Err* sentinels, matched by errors.Is) whose message
// msg is safe to show to the user as it is: a constant or text built only from the caller's own
// validated input, never a secret, an upstream error text or another user's data. The HTTP edge
// (internal/httpjson) shows exactly msg, however the error is wrapped further for the logs.
// Error() reads "msg: <kind>".
func Public(kind error, msg string) error { return &publicError{kind: kind, msg: msg} }

type publicError struct {
	kind error
	msg  string
}

func (e *publicError) Error() string { return e.msg + ": " + e.kind.Error() }
func (e *publicError) Unwrap() error { return e.kind }

// PublicMessage returns the user-facing message of the outermost Public error in err's chain.
func PublicMessage(err error) (string, bool) {
	if pe, ok := errors.AsType[*publicError](err); ok {
		return pe.msg, true
	}
	return "", false
}
