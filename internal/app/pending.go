package app

import (
	"context"
	"errors"
)

// Commands whose services are still being wired.
var errNotWired = errors.New("not available in this build yet")

func serve(ctx context.Context, args []string, io IO) error       { return errNotWired }
func gatewayStatus(ctx context.Context, io IO) error              { return errNotWired }
func userCommand(ctx context.Context, args []string, io IO) error { return errNotWired }
func pushKeys(io IO) error                                        { return errNotWired }
func smoke(ctx context.Context, args []string, io IO) error       { return errNotWired }
