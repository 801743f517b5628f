package hoststats

import "encoding/binary"

func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// hypervisorSignature returns the vendor signature a hypervisor puts in
// CPUID leaf 0x40000000 (EBX, ECX, EDX), as systemd-detect-virt reads it,
// or "" when CPUID leaf 1 says no hypervisor is present (ECX bit 31). A
// signature is the only way to name a hypervisor that offers no DMI
// tables, such as a Firecracker microVM.
func hypervisorSignature() string {
	_, _, ecx, _ := cpuid(1, 0)
	if ecx&(1<<31) == 0 {
		return ""
	}
	_, b, c, d := cpuid(0x40000000, 0)
	var sig [12]byte
	binary.LittleEndian.PutUint32(sig[0:], b)
	binary.LittleEndian.PutUint32(sig[4:], c)
	binary.LittleEndian.PutUint32(sig[8:], d)
	return string(sig[:])
}
