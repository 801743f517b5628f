package results

// Host identifies the machine a file was made on.
type Host struct {
	Hostname       string         `json:"hostname"`
	Kernel         string         `json:"kernel"`
	OS             string         `json:"os,omitempty"`
	CPUModel       string         `json:"cpu_model"`
	Cores          int            `json:"cores"`
	MemoryBytes    uint64         `json:"memory_bytes"`
	Virtualization Virtualization `json:"virtualization"`
	Disks          []Disk         `json:"disks"`
}

// Virtualization names the layers below the process: a container, and the
// hypervisor under it. "none" means checked and absent; "" means unknown.
type Virtualization struct {
	Container  string `json:"container"`
	Hypervisor string `json:"hypervisor"`
	// Evidence says what each finding rests on (a file, a CPUID signature,
	// DMI), so a surprising answer can be checked by hand.
	Evidence []string `json:"evidence,omitempty"`
}

// Disk names a block device and its kind: nvme, sata/scsi, virtio, xen, mmc, other.
type Disk struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Model is the device's model (or vendor) string as sysfs gives it.
	Model     string `json:"model,omitempty"`
	SizeBytes uint64 `json:"size_bytes,omitempty"`
}

// HostStats is what the host did during one path's measured window.
type HostStats struct {
	Samples   int     `json:"samples"`
	IntervalS float64 `json:"interval_s"`
	// DurationS is the window from the first sample to the last.
	DurationS float64      `json:"duration_s"`
	CPU       *CPUStats    `json:"cpu,omitempty"`
	PSI       *PSIStats    `json:"psi,omitempty"`
	Disks     []DiskStats  `json:"disks,omitempty"`
	Network   *NetStats    `json:"network,omitempty"`
	Cgroup    *CgroupStats `json:"cgroup,omitempty"`
	// Errors lists samplers that could not read their source; a sampler that
	// fails leaves its block out and says why here, it never aborts a run.
	Errors []string `json:"errors,omitempty"`
}

// CPUStats are shares of elapsed CPU time over the window, in percent.
type CPUStats struct {
	UserPct   float64 `json:"user_pct"`
	SystemPct float64 `json:"system_pct"`
	IdlePct   float64 `json:"idle_pct"`
	IowaitPct float64 `json:"iowait_pct"`
	StealPct  float64 `json:"steal_pct"`
	// StealReported is false when steal cannot be observed here (no steal
	// clock, or a container that hides it): StealPct is then not a measurement.
	StealReported bool `json:"steal_reported"`
	// IrqPct is hard and soft interrupt time; with the shares above it
	// makes 100. UserPct holds nice and guest time as well.
	IrqPct float64 `json:"irq_pct"`
	// StealMaxPct is the worst steal of any one sampling interval: a
	// neighbour's burst hides in a window average.
	StealMaxPct float64 `json:"steal_max_pct"`
	// StealWhy says why steal is not reported, when it is not.
	StealWhy string `json:"steal_why,omitempty"`
}

// PSIStats are pressure stall figures over the window: the share of wall time
// (percent) in which some (or all) runnable tasks were stalled.
type PSIStats struct {
	CPUSomePct    float64 `json:"cpu_some_pct"`
	IOSomePct     float64 `json:"io_some_pct"`
	IOFullPct     float64 `json:"io_full_pct"`
	MemorySomePct float64 `json:"memory_some_pct"`
	MemoryFullPct float64 `json:"memory_full_pct"`
	// CPUFullPct is 0 at the system level on most kernels; in a cgroup it
	// is time in which no task of it could run.
	CPUFullPct float64 `json:"cpu_full_pct"`
	// Avg10 is the kernel's own 10 s average at the end of the window.
	Avg10 *PSIAvg10 `json:"avg10,omitempty"`
}

// PSIAvg10 are the avg10 figures of /proc/pressure/*, in percent.
type PSIAvg10 struct {
	CPUSome    float64 `json:"cpu_some"`
	IOSome     float64 `json:"io_some"`
	IOFull     float64 `json:"io_full"`
	MemorySome float64 `json:"memory_some"`
	MemoryFull float64 `json:"memory_full"`
}

// NetStats are TCP counters over the window.
type NetStats struct {
	TCPOutSegs     int64   `json:"tcp_out_segs"`
	TCPRetransSegs int64   `json:"tcp_retrans_segs"`
	RetransPct     float64 `json:"retrans_pct"` // of segments sent
	// ListenOverflows counts connections dropped because an accept queue
	// was full; ListenDrops includes them and other drops at listen.
	ListenOverflows int64 `json:"listen_overflows"`
	ListenDrops     int64 `json:"listen_drops"`
}

// CgroupStats is the CPU throttling of meshbench's own cgroup.
type CgroupStats struct {
	Version string `json:"version"` // v1 or v2
	Path    string `json:"path"`
	// QuotaCores is the CPU limit (quota/period); 0 means no limit.
	QuotaCores   float64 `json:"quota_cores"`
	Periods      int64   `json:"periods"`
	Throttled    int64   `json:"throttled"`
	ThrottledS   float64 `json:"throttled_s"`
	ThrottledPct float64 `json:"throttled_pct"` // of enforcement periods
}

// DiskStats are iostat -x style figures for one device over the window.
type DiskStats struct {
	Name      string  `json:"name"`
	Kind      string  `json:"kind"`
	ReadIOPS  float64 `json:"r_iops"`
	WriteIOPS float64 `json:"w_iops"`
	UtilPct   float64 `json:"util_pct"`
	AquSz     float64 `json:"aqu_sz"`
	RAwaitMs  float64 `json:"r_await_ms"`
	WAwaitMs  float64 `json:"w_await_ms"`
	ReadMBps  float64 `json:"r_mb_s"`
	WriteMBps float64 `json:"w_mb_s"`
	// InFlight is the last seen count of requests in the device queue and
	// MaxInFlight the largest seen at any sample.
	InFlight    int64 `json:"in_flight"`
	MaxInFlight int64 `json:"max_in_flight"`
	// Queue settings from /sys/block/<dev>/queue and mq/.
	Scheduler  string `json:"scheduler,omitempty"`
	NrRequests int    `json:"nr_requests,omitempty"`
	HWQueues   int    `json:"hw_queues,omitempty"`
}

// HostQuality holds the probes' results and the verdicts drawn from them.
type HostQuality struct {
	Verdicts []Verdict    `json:"verdicts"`
	Jitter   *JitterProbe `json:"jitter,omitempty"`
	Fsync    *FsyncProbe  `json:"fsync,omitempty"`
	Audit    *AuditProbe  `json:"audit,omitempty"`
}

// JitterProbe is a hiccup meter: how far past a 1 ms deadline a sleeping
// thread wakes, and how long a spinning thread is kept off its CPU.
type JitterProbe struct {
	Sleep JitterLoop `json:"sleep"`
	Busy  JitterLoop `json:"busy"`
	// CPUSeconds is what the probe itself used (user+system of its thread).
	CPUSeconds float64 `json:"cpu_seconds"`
	Error      string  `json:"error,omitempty"`
}

// JitterLoop summarises one loop of the jitter probe, in milliseconds.
type JitterLoop struct {
	Samples   int64   `json:"samples"`
	DurationS float64 `json:"duration_s"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	P999Ms    float64 `json:"p999_ms"`
	MaxMs     float64 `json:"max_ms"`
	// LostPct is the share of the loop's wall time the thread did not get:
	// for the sleep loop, lateness beyond its median (the usual timer slack
	// is not counted); for the busy loop, stalls over 10 µs.
	LostPct float64 `json:"lost_pct"`
}

// FsyncProbe is etcd's disk check: small appends, each made durable with
// fdatasync before the next.
type FsyncProbe struct {
	Dir        string  `json:"dir"`
	Device     string  `json:"device,omitempty"`
	Filesystem string  `json:"filesystem,omitempty"`
	BlockBytes int     `json:"block_bytes"`
	Ops        int64   `json:"ops"`
	OpsPerS    float64 `json:"ops_per_s"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	CPUSeconds float64 `json:"cpu_seconds"`
	Error      string  `json:"error,omitempty"`
}

// AuditProbe is the tuning audit: settings a proxy host should have.
type AuditProbe struct {
	Checks     []AuditCheck `json:"checks"`
	CPUSeconds float64      `json:"cpu_seconds"`
}

// AuditCheck is one setting, what it should be and how to fix it.
type AuditCheck struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Want   string `json:"want"`
	Status string `json:"status"` // ok, warn, unknown
	Fix    string `json:"fix,omitempty"`
}

// Verdict is one check with the threshold that produced its status.
type Verdict struct {
	Check     string `json:"check"`
	Status    string `json:"status"` // ok, warn, fail, unknown
	Value     string `json:"value"`
	Threshold string `json:"threshold"`
	Fix       string `json:"fix,omitempty"`
}
