package main

import (
	"strings"
	"testing"
)

// SoftEther and --esp-transport (docs/interop.md, "Plain ESP and tunnel
// mode with SoftEther"): its NAT-D always reports a NAT, so raw fails at
// once in phase 1 with exit 5 and says why, and auto keeps ESP in UDP. Our
// Quick Mode offers tunnel mode after transport mode; SoftEther takes the
// transport one.

func TestSoftEtherESPTransportRaw(t *testing.T) {
	p := needPeer(t)
	p.failsWith(t, 5, `IKE phase 1: .*plain ESP \(IP protocol 50\) was required, but NAT-D shows a NAT.*hint: .*--esp-transport auto or udp`,
		"--esp-transport", "raw")
}

func TestSoftEtherESPTransportAuto(t *testing.T) {
	p := needPeer(t)
	c := p.connectPingDisconnect(t, "--esp-transport", "auto", "-v")
	out := c.output()
	if !strings.Contains(out, "NAT detected: IKE and ESP in UDP 4500") || !strings.Contains(out, "UDP-encapsulated transport mode") ||
		strings.Contains(out, "plain ESP (IP protocol 50)") {
		t.Errorf("auto against SoftEther did not keep ESP in UDP transport mode:\n%s", out)
	}
}
