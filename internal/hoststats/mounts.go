package hoststats

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// mount is one line of /proc/self/mountinfo.
type mount struct {
	devID     string // "major:minor"
	root      string
	point     string
	fstype    string
	source    string
	superOpts string
}

// parseMountinfo reads /proc/<pid>/mountinfo. Optional fields sit between
// the mount options and a lone "-".
func parseMountinfo(text string) []mount {
	var out []mount
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 6 || sep < 0 || sep+2 >= len(f) {
			continue
		}
		m := mount{devID: f[2], root: unescapeMount(f[3]), point: unescapeMount(f[4]), fstype: f[sep+1], source: f[sep+2]}
		if sep+3 < len(f) {
			m.superOpts = f[sep+3]
		}
		out = append(out, m)
	}
	return out
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountOf finds the mount holding path: the longest mount point that is a
// prefix of it, the last one listed when several share a point (the one on
// top).
func mountOf(mounts []mount, path string) (mount, bool) {
	var best mount
	found := false
	for _, m := range mounts {
		p := m.point
		if path != p && !strings.HasPrefix(path, strings.TrimSuffix(p, "/")+"/") {
			continue
		}
		if !found || len(p) >= len(best.point) {
			best, found = m, true
		}
	}
	return best, found
}

// lxcfsStat reports whether /proc/stat is served by lxcfs.
func lxcfsStat(mounts []mount) bool {
	for _, m := range mounts {
		if m.point == "/proc/stat" && strings.Contains(m.fstype, "lxcfs") {
			return true
		}
	}
	return false
}

// BackingDisk names the whole disk that holds dir, and the filesystem type
// of dir's mount. An overlay (a container's root) is followed to its upper
// directory; a partition leads to its disk; a device-mapper device to the
// first disk below it. Memory filesystems have no disk and give an error.
func BackingDisk(r Roots, dir string) (disk, fstype string, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	if p, err := filepath.EvalSymlinks(abs); err == nil {
		abs = p
	}
	text, err := readString(r.proc("self", "mountinfo"))
	if err != nil {
		return "", "", err
	}
	mounts := parseMountinfo(text)
	for range 4 { // overlays on overlays, but not forever
		m, ok := mountOf(mounts, abs)
		if !ok {
			return "", "", fmt.Errorf("%s: no mount found", dir)
		}
		fstype = m.fstype
		switch m.fstype {
		case "tmpfs", "ramfs":
			return "", fstype, fmt.Errorf("%s is on %s, in memory, not on a disk", dir, m.fstype)
		case "overlay":
			up := mountOpt(m.superOpts, "upperdir")
			if up == "" {
				return "", fstype, fmt.Errorf("%s: overlay without an upperdir", dir)
			}
			abs = up
			continue
		}
		name := r.devName(m.devID)
		if name == "" && strings.HasPrefix(m.source, "/dev/") {
			// btrfs and others report an anonymous device number; the
			// source names the real device.
			name = filepath.Base(m.source)
		}
		if name == "" {
			return "", fstype, fmt.Errorf("%s: no block device for %s (%s)", dir, m.devID, m.fstype)
		}
		return r.wholeDiskOf(name), fstype, nil
	}
	return "", fstype, fmt.Errorf("%s: overlays nest too deep", dir)
}

func mountOpt(opts, key string) string {
	for _, o := range strings.Split(opts, ",") {
		if v, ok := strings.CutPrefix(o, key+"="); ok {
			return v
		}
	}
	return ""
}

// devName names the block device with number "major:minor".
func (r Roots) devName(devID string) string {
	if link, err := os.Readlink(r.sys("dev", "block", devID)); err == nil {
		return filepath.Base(link)
	}
	if text, err := readString(r.proc("diskstats")); err == nil {
		return devNumbers(text)[devID]
	}
	return ""
}

// wholeDiskOf climbs from a partition to its disk, and from a
// device-mapper or md device to the first device below it.
func (r Roots) wholeDiskOf(name string) string {
	for range 4 {
		if exists(r.sys("class", "block", name, "partition")) {
			if link, err := os.Readlink(r.sys("class", "block", name)); err == nil {
				name = filepath.Base(filepath.Dir(link))
				continue
			}
		}
		if slaves, err := os.ReadDir(r.sys("block", name, "slaves")); err == nil && len(slaves) > 0 {
			name = slaves[0].Name()
			continue
		}
		break
	}
	return name
}
