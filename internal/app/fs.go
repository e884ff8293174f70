package app

import (
	"fmt"
	"os"
)

func mkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("CLAWCHAT_DATA_DIR %q: %w", dir, err)
	}
	return nil
}
