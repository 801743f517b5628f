package load

import (
	"testing"
	"time"
)

// TestPollerTimer: a wait for a time in the future returns with the timer
// fired, no earlier than asked, both with epoll_pwait2 and with the timerfd
// that kernels without it use; and wake interrupts a wait at once.
func TestPollerTimer(t *testing.T) {
	for _, pwait2 := range []bool{true, false} {
		p, err := newPoller()
		if err != nil {
			t.Fatal(err)
		}
		if pwait2 && !p.pwait2 {
			p.close()
			t.Log("this kernel has no epoll_pwait2")
			continue
		}
		p.pwait2 = pwait2
		base := time.Now()
		now := func() int64 { return int64(time.Since(base)) }
		p.setBase(now())
		target := now() + int64(2*time.Millisecond)
		w := p.waitUntil(target, now())
		for !w.fired { // a signal (EINTR) ends a wait early; the loop goes round
			w = p.waitUntil(target, now())
		}
		if got := now(); got < target {
			t.Errorf("pwait2 %v: timer fired %s before its time", pwait2, time.Duration(target-got))
		}
		p.wake()
		if w := p.waitUntil(now()+int64(time.Hour), now()); w.fired || w.socks {
			t.Errorf("pwait2 %v: woken by %+v, want by the eventfd alone", pwait2, w)
		}
		p.close()
	}
}
