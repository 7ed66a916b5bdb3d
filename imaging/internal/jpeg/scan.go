package jpeg

import (
	"errors"
	"fmt"
)

// maxOverrun is how many zero bits past the data a scan may consume before
// it counts as truncated: encoders may stop short of the final byte.
const maxOverrun = 64

var errTruncated = errors.New("jpeg: data ends early (truncated)")

type scanComp struct {
	c      *component
	dc, ac *huffman
}

func (d *decoder) scan(seg []byte) error {
	if len(seg) < 1 {
		return errors.New("jpeg: short SOS")
	}
	ns := int(seg[0])
	if ns < 1 || ns > 4 || len(seg) != 4+2*ns {
		return errors.New("jpeg: bad SOS")
	}
	sc := make([]scanComp, ns)
	for i := range ns {
		id := seg[1+2*i]
		var c *component
		for k := range d.comps {
			if d.comps[k].id == id {
				c = &d.comps[k]
			}
		}
		if c == nil {
			return fmt.Errorf("jpeg: scan names unknown component %d", id)
		}
		td, ta := int(seg[2+2*i]>>4), int(seg[2+2*i]&15)
		if td > 3 || ta > 3 {
			return errors.New("jpeg: bad table selector")
		}
		sc[i] = scanComp{c: c, dc: d.dc[td], ac: d.ac[ta]}
		if sc[i].dc == nil {
			return fmt.Errorf("jpeg: scan uses undefined Huffman table %d", td)
		}
		if d.sof != sof3 && sc[i].ac == nil {
			return fmt.Errorf("jpeg: scan uses undefined AC table %d", ta)
		}
		c.pred = 0
	}
	ss, al := int(seg[1+2*ns]), int(seg[3+2*ns]&15)
	d.bits = bitReader{data: d.data, pos: d.pos}
	var err error
	if d.sof == sof3 {
		if ss < 1 || ss > 7 {
			return fmt.Errorf("jpeg: lossless predictor %d (1 to 7)", ss)
		}
		if al >= d.prec {
			return fmt.Errorf("jpeg: point transform %d for precision %d", al, d.prec)
		}
		err = d.losslessScan(sc, ss, al)
	} else {
		// Sequential scans should say Ss=0, Se=63, Ah=Al=0; some encoders
		// write other values, which the IJG library ignores with a warning.
		err = d.dctScan(sc)
	}
	if err != nil {
		return err
	}
	d.pos = d.bits.pos
	return nil
}

// losslessScan decodes a process-14 scan (T.81 Annex H): each sample is its
// prediction from the neighbours Ra (left), Rb (above) and Rc (above left)
// plus a Huffman-coded difference, modulo 2^16.
func (d *decoder) losslessScan(sc []scanComp, psv, pt int) error {
	w, h := sc[0].c.pw, sc[0].c.ph
	for _, s := range sc[1:] {
		if s.c.pw != w || s.c.ph != h {
			return errors.New("jpeg: lossless components of different sizes")
		}
	}
	initial := int32(1) << (d.prec - pt - 1)
	br := &d.bits
	mcus := 0
	// A restart resets prediction: the next sample gets the initial value
	// and the rest of its row predicts from the left (T.81 H.1.2.1).
	resetNext, firstRow, restartRow := true, true, 0
	for y := range h {
		if y != restartRow {
			firstRow = false
		}
		for x := range w {
			if d.restart > 0 && mcus > 0 && mcus%d.restart == 0 {
				if !br.restart() {
					return errors.New("jpeg: missing restart marker")
				}
				resetNext, firstRow, restartRow = true, true, y
			}
			for _, s := range sc {
				p := s.c.plane
				i := y*w + x
				var pred int32
				switch {
				case resetNext:
					pred = initial
				case firstRow:
					pred = int32(p[i-1])
				case x == 0:
					pred = int32(p[i-w])
				default:
					ra, rb, rc := int32(p[i-1]), int32(p[i-w]), int32(p[i-w-1])
					switch psv {
					case 1:
						pred = ra
					case 2:
						pred = rb
					case 3:
						pred = rc
					case 4:
						pred = ra + rb - rc
					case 5:
						pred = ra + (rb-rc)>>1
					case 6:
						pred = rb + (ra-rc)>>1
					case 7:
						pred = (ra + rb) >> 1
					}
				}
				t, err := br.decode(s.dc)
				if err != nil {
					return err
				}
				var diff int32
				switch {
				case t == 16:
					diff = 32768
				case t > 16:
					return fmt.Errorf("jpeg: difference category %d", t)
				default:
					diff = br.receiveExtend(uint(t))
				}
				p[i] = uint16(pred + diff)
			}
			resetNext = false
			mcus++
		}
		if br.overrun() > maxOverrun {
			return errTruncated
		}
	}
	if pt > 0 {
		for _, s := range sc {
			for i, v := range s.c.plane {
				s.c.plane[i] = v << pt
			}
		}
	}
	return nil
}

// dctScan decodes a sequential Huffman DCT scan, IDCT included.
func (d *decoder) dctScan(sc []scanComp) error {
	br := &d.bits
	var blk [64]int32
	block := func(s scanComp, bx, by int) error {
		c := s.c
		clear(blk[:])
		t, err := br.decode(s.dc)
		if err != nil {
			return err
		}
		if t > 16 {
			return fmt.Errorf("jpeg: DC category %d", t)
		}
		c.pred += int(br.receiveExtend(uint(t)))
		blk[0] = int32(int16(c.pred))
		for k := 1; k < 64; k++ {
			rs, err := br.decode(s.ac)
			if err != nil {
				return err
			}
			r, sz := int(rs>>4), uint(rs&15)
			if sz == 0 {
				if r != 15 {
					break
				}
				k += 15
				continue
			}
			k += r
			blk[natural[min(k, len(natural)-1)]] = int32(int16(br.receiveExtend(sz)))
		}
		if bx < c.bw && by < c.bh {
			idctIslow(&blk, &d.quant[c.tq], c.plane[(by*8)*c.pw+bx*8:], c.pw, d.prec)
		}
		return nil
	}
	mcus := 0
	restart := func() error {
		if d.restart > 0 && mcus > 0 && mcus%d.restart == 0 {
			if !br.restart() {
				return errors.New("jpeg: missing restart marker")
			}
			for _, s := range sc {
				s.c.pred = 0
			}
		}
		return nil
	}
	if len(sc) == 1 {
		// Non-interleaved: the blocks that cover the component only.
		c := sc[0].c
		bw, bh := (c.cw+7)/8, (c.ch+7)/8
		for by := range bh {
			for bx := range bw {
				if err := restart(); err != nil {
					return err
				}
				if err := block(sc[0], bx, by); err != nil {
					return err
				}
				mcus++
			}
			if br.overrun() > maxOverrun {
				return errTruncated
			}
		}
		return nil
	}
	mx := (d.width + 8*d.hmax - 1) / (8 * d.hmax)
	my := (d.height + 8*d.vmax - 1) / (8 * d.vmax)
	for my0 := range my {
		for mx0 := range mx {
			if err := restart(); err != nil {
				return err
			}
			for _, s := range sc {
				for v := range s.c.v {
					for u := range s.c.h {
						if err := block(s, mx0*s.c.h+u, my0*s.c.v+v); err != nil {
							return err
						}
					}
				}
			}
			mcus++
		}
		if br.overrun() > maxOverrun {
			return errTruncated
		}
	}
	return nil
}
