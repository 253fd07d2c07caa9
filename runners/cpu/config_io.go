package cpu

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ssmbench/ssmbench/runners/configs"
)

// writeConfig writes the config's raw JSON as dir/config.json.
func writeConfig(dir string, cfg *configs.Model) error {
	if len(cfg.Raw) == 0 {
		return fmt.Errorf("config %s has no raw JSON to write", cfg.Name)
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), cfg.Raw, 0o644)
}
