package tunnel

import "github.com/l2tpctl/l2tpctl/proto/esp"

// setOutbound makes sa the SA for everything sent from now on (nil stops
// sending). Called by the control loop on installation and re-key; packets
// being sealed concurrently finish on the old SA.
func (d *dataPath) setOutbound(sa *esp.SA) { d.out.Store(sa) }

// addInbound adds sa to the inbound SAs, replacing one with the same SPI.
// During a re-key the old and new inbound SAs are both present until the
// control loop removes the old one.
func (d *dataPath) addInbound(sa *esp.SA) {
	d.inMu.Lock()
	defer d.inMu.Unlock()
	var next []*esp.SA
	if old := d.in.Load(); old != nil {
		for _, s := range *old {
			if s.SPI() != sa.SPI() {
				next = append(next, s)
			}
		}
	}
	next = append(next, sa)
	d.in.Store(&next)
}

// removeInbound removes the inbound SA with the given SPI, if any.
func (d *dataPath) removeInbound(spi uint32) {
	d.inMu.Lock()
	defer d.inMu.Unlock()
	old := d.in.Load()
	if old == nil {
		return
	}
	next := make([]*esp.SA, 0, len(*old))
	for _, s := range *old {
		if s.SPI() != spi {
			next = append(next, s)
		}
	}
	d.in.Store(&next)
}

// inbound returns the inbound SA for spi, or nil.
func (d *dataPath) inbound(spi uint32) *esp.SA {
	if l := d.in.Load(); l != nil {
		for _, s := range *l {
			if s.SPI() == spi {
				return s
			}
		}
	}
	return nil
}
