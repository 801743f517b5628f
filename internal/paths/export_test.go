package paths

// Hooks for the external tests, which run sequentially when they use them.
var (
	SbinDirs = &sbinDirs
	FreePort = freePort
)

// ParseShowStat and HAProxyCounters expose the stats parsing to fixtures.
var (
	ParseShowStat   = parseShowStat
	HAProxyCounters = haproxyCounters
)
