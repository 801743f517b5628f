//go:build race

package load

// raceEnabled: the race detector slows every memory access several times,
// so timing assertions are meaningless under it.
const raceEnabled = true
