package scenario

// Upper bounds on what a scenario may ask for. Each is checked before
// anything starts, and exceeding one is bad input (exit 2) naming it.
const (
	// MaxFileBytes bounds a scenario file. The largest shipped scenario
	// (an exec template) is under 4 KiB; 1 MiB leaves room for long
	// templates while keeping a runaway or wrong file from being read
	// into memory and into every result file.
	MaxFileBytes = 1 << 20

	// MaxNameBytes bounds the scenario's name, which heads every table,
	// report and result file.
	MaxNameBytes = 128

	// MaxDescriptionBytes bounds the description, which is copied into
	// every result file and report: a paragraph, not a document.
	MaxDescriptionBytes = 2048
)
