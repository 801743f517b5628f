package scenario

import "time"

// Upper and lower bounds on what a scenario may ask for. Each is checked
// before anything starts; a value past one is bad input (exit 2) whose
// message names the bound. The reasons are given beside each: most protect
// the memory of meshbench and of what it starts, which grows with these
// values, and the rest refuse values that cannot give a meaningful figure.
const (
	// MaxFileBytes bounds a scenario file. The largest shipped scenario
	// (an exec template) is under 4 KiB; 1 MiB leaves room for long
	// templates while keeping a runaway file out of memory and out of
	// every result file.
	MaxFileBytes = 1 << 20

	// MaxNameBytes bounds the scenario's name, which heads every table,
	// report and result file.
	MaxNameBytes = 128

	// MaxDescriptionBytes bounds the description, which is copied into
	// every result file and report: a paragraph, not a document.
	MaxDescriptionBytes = 2048

	// MaxPaths bounds the paths of one scenario. Every path is measured in
	// every round of every step, and all of a step's paths may be up at
	// once (interleaved windows), each with its own proxy processes.
	MaxPaths = 16

	// MaxSettings bounds the settings of one path; each becomes a line of
	// a generated proxy config or a sidecar flag.
	MaxSettings = 64

	// MaxExecArgs bounds an exec path's command line.
	MaxExecArgs = 64

	// MaxRate is the highest offered rate, requests/s, of any shape or
	// sweep step: the load engine's own bound (load.MaxRate), so that a
	// scenario that validates also runs. One load generator on a 2-core
	// host tops out well below it; several agents (run --share) share it.
	MaxRate = 1e5

	// MaxSweepSteps bounds a sweep: every step measures every path in
	// every round.
	MaxSweepSteps = 20

	// MaxConnections bounds the open connections per path. Each is a slot
	// allocated up front, a socket, and two file descriptors in a proxy;
	// 10000 carries MaxRate at 10 ms per request (Little's law) and stays
	// under the 65535 open files the host audit asks for.
	MaxConnections = 10000

	// MinDuration is the shortest measured window: shorter ones measure
	// start-up and timer granularity, and no host sample (MinInterval)
	// lands inside them.
	MinDuration = 100 * time.Millisecond

	// MaxDuration is the longest measured window. The per-second timeline
	// of a window grows with it, and a window longer than an hour is a
	// soak test, not a comparison of paths.
	MaxDuration = time.Hour

	// MaxWarmup is the longest warm-up before a window; caches and
	// connection pools are warm long before.
	MaxWarmup = 10 * time.Minute

	// MaxTrials bounds the rounds (trials and max_rounds).
	MaxTrials = 100

	// MaxMeasurements bounds sweep steps × rounds × paths: the rows of the
	// result file, each of which holds a latency histogram.
	MaxMeasurements = 2000

	// MaxWindows bounds the interleaved windows of a run (measurements ×
	// windows per measurement): each keeps its own figures, the samples of
	// the overhead intervals and of the gates' tests.
	MaxWindows = 100000

	// MaxRunTime bounds the planned length of a run, warm-ups included:
	// a benchmark that would run for more than a day is a mistake.
	MaxRunTime = 24 * time.Hour

	// MinTimeout is the shortest per-request timeout: below a millisecond
	// every request through a proxy times out and nothing is measured.
	MinTimeout = time.Millisecond

	// MaxTimeout is the longest per-request timeout. It is longer than
	// the proxies' own server timeouts (HAProxy's 50 s), and it bounds how
	// long a window's last requests may keep it open.
	MaxTimeout = time.Minute

	// MaxDelay bounds an added service time (backend delay, fault delay):
	// a delay longer than MaxTimeout could only produce timeouts.
	MaxDelay = MaxTimeout

	// MinInterval and MaxInterval bound the host sampling interval. Below
	// 100 ms the kernel's counters (ticks of 4-10 ms) are too coarse.
	MinInterval = 100 * time.Millisecond
	MaxInterval = time.Minute

	// MaxReplicas bounds the backend replicas; each is a listener and a
	// goroutine pool in meshbench, and an upstream in every proxy config.
	MaxReplicas = 64

	// MaxPayload bounds the backend's response body, bytes. The body is
	// built once per replica and written per request; 64 MiB is past any
	// API response a mesh carries.
	MaxPayload = 64 << 20

	// MaxBodyBytes bounds the request body. The request is built once and
	// written whole per request, and each proxy buffers it per request in
	// flight (nginx moves bodies over 16 KiB to a temp file): 64 KiB covers
	// API requests and keeps MaxConnections of them under 1 GiB.
	MaxBodyBytes = 64 << 10

	// MaxRequestPathBytes bounds request.path, so that the request line
	// fits the 8 KiB line buffers of nginx and HAProxy.
	MaxRequestPathBytes = 4096

	// MaxHeaders and MaxHeaderBytes bound request.headers (the bytes count
	// each "Name: value\r\n" line). nginx allots 8 KiB per header line
	// and HAProxy 16 KiB to the whole request head by default; 8 KiB in
	// all leaves room for the request line and meshbench's own headers.
	MaxHeaders     = 64
	MaxHeaderBytes = 8 << 10

	// MaxTargetBytes bounds the target URL.
	MaxTargetBytes = 2048

	// MaxFaults bounds the fault events of one window.
	MaxFaults = 32

	// MaxGates and MaxGateBytes bound the performance rules; each is
	// checked against every row of the result.
	MaxGates     = 64
	MaxGateBytes = 256
)

// MaxSendBatch bounds send_batch; it is the load engine's own bound
// (load.MaxSendBatch), which keeps a batched send under the late threshold.
const MaxSendBatch = 250 * time.Microsecond
