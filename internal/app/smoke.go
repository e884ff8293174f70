package app

import (
	"context"
	"errors"
)

func smoke(ctx context.Context, args []string, io IO) error {
	return errors.New("smoke: not available in this build yet")
}
