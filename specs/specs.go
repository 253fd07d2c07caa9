// Package specs holds the sweep specs shipped with ssmbench, embedded in the
// binary so that `ssmbench run --auto` works from any directory.
package specs

import "embed"

// FS holds every *.yaml spec of this directory.
//
//go:embed *.yaml
var FS embed.FS
