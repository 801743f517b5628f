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
}

// Disk names a block device and its kind: nvme, sata/scsi, virtio, xen, mmc, other.
type Disk struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// HostStats is what the host did during one path's measured window.
type HostStats struct {
	Samples   int         `json:"samples"`
	IntervalS float64     `json:"interval_s"`
	CPU       *CPUStats   `json:"cpu,omitempty"`
	PSI       *PSIStats   `json:"psi,omitempty"`
	Disks     []DiskStats `json:"disks,omitempty"`
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
}

// PSIStats are pressure stall figures over the window: the share of wall time
// (percent) in which some (or all) runnable tasks were stalled.
type PSIStats struct {
	CPUSomePct    float64 `json:"cpu_some_pct"`
	IOSomePct     float64 `json:"io_some_pct"`
	IOFullPct     float64 `json:"io_full_pct"`
	MemorySomePct float64 `json:"memory_some_pct"`
	MemoryFullPct float64 `json:"memory_full_pct"`
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
}

// HostQuality holds the probes' results and the verdicts drawn from them.
type HostQuality struct {
	Verdicts []Verdict `json:"verdicts"`
}

// Verdict is one check with the threshold that produced its status.
type Verdict struct {
	Check     string `json:"check"`
	Status    string `json:"status"` // ok, warn, fail, unknown
	Value     string `json:"value"`
	Threshold string `json:"threshold"`
	Fix       string `json:"fix,omitempty"`
}
