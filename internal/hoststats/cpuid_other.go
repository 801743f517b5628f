//go:build !amd64

package hoststats

// hypervisorSignature has no CPUID to ask off amd64; detection falls back
// to DMI, /sys/hypervisor, the device tree and the cpuinfo flag.
func hypervisorSignature() string { return "" }
