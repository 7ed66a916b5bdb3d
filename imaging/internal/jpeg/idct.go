package jpeg

// idctIslow is the IJG library's jpeg_idct_islow (jidctint.c): a scaled
// integer IDCT with 13-bit constants, PASS1_BITS 2 for 8-bit and 1 for
// 12-bit samples, followed by the library's wrap-around range limiting.
// It writes 8×8 samples to out with the given row stride.
func idctIslow(coef *[64]int32, q *[64]int32, out []uint16, stride, prec int) {
	const (
		constBits = 13
		fix0298   = 2446
		fix0390   = 3196
		fix0541   = 4433
		fix0765   = 6270
		fix0899   = 7373
		fix1175   = 9633
		fix1501   = 12299
		fix1847   = 15137
		fix1961   = 16069
		fix2053   = 16819
		fix2562   = 20995
		fix3072   = 25172
	)
	pass1 := int64(2)
	if prec == 12 {
		pass1 = 1
	}
	maxSample := int64(1)<<prec - 1
	center := int64(1) << (prec - 1)
	rangeMask := maxSample*4 + 3
	descale := func(x int64, n int64) int64 { return (x + 1<<(n-1)) >> n }
	limit := func(x int64) uint16 {
		// x & RANGE_MASK indexes IJG's post-IDCT table.
		v := x & rangeMask
		switch {
		case v < center:
			return uint16(v + center)
		case v < 2*(maxSample+1):
			return uint16(maxSample)
		case v < 4*(maxSample+1)-center:
			return 0
		}
		return uint16(v - 4*(maxSample+1) + center)
	}
	var ws [64]int32
	for col := range 8 {
		in := func(r int) int64 { return int64(coef[r*8+col]) * int64(q[r*8+col]) }
		if coef[8+col] == 0 && coef[16+col] == 0 && coef[24+col] == 0 && coef[32+col] == 0 &&
			coef[40+col] == 0 && coef[48+col] == 0 && coef[56+col] == 0 {
			dc := int32(in(0) << pass1)
			for r := range 8 {
				ws[r*8+col] = dc
			}
			continue
		}
		z2, z3 := in(2), in(6)
		z1 := (z2 + z3) * fix0541
		tmp2 := z1 + z3*(-fix1847)
		tmp3 := z1 + z2*fix0765
		z2, z3 = in(0), in(4)
		tmp0 := (z2 + z3) << constBits
		tmp1 := (z2 - z3) << constBits
		tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
		tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2

		tmp0, tmp1, tmp2, tmp3 = in(7), in(5), in(3), in(1)
		z1, z2, z3 = tmp0+tmp3, tmp1+tmp2, tmp0+tmp2
		z4 := tmp1 + tmp3
		z5 := (z3 + z4) * fix1175
		tmp0 *= fix0298
		tmp1 *= fix2053
		tmp2 *= fix3072
		tmp3 *= fix1501
		z1 *= -fix0899
		z2 *= -fix2562
		z3 *= -fix1961
		z4 *= -fix0390
		z3 += z5
		z4 += z5
		tmp0 += z1 + z3
		tmp1 += z2 + z4
		tmp2 += z2 + z3
		tmp3 += z1 + z4
		n := constBits - pass1
		ws[0*8+col] = int32(descale(tmp10+tmp3, n))
		ws[7*8+col] = int32(descale(tmp10-tmp3, n))
		ws[1*8+col] = int32(descale(tmp11+tmp2, n))
		ws[6*8+col] = int32(descale(tmp11-tmp2, n))
		ws[2*8+col] = int32(descale(tmp12+tmp1, n))
		ws[5*8+col] = int32(descale(tmp12-tmp1, n))
		ws[3*8+col] = int32(descale(tmp13+tmp0, n))
		ws[4*8+col] = int32(descale(tmp13-tmp0, n))
	}
	for row := range 8 {
		w := ws[row*8 : row*8+8 : row*8+8]
		o := out[row*stride : row*stride+8 : row*stride+8]
		if w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0 {
			v := limit(descale(int64(w[0]), pass1+3))
			for i := range o {
				o[i] = v
			}
			continue
		}
		z2, z3 := int64(w[2]), int64(w[6])
		z1 := (z2 + z3) * fix0541
		tmp2 := z1 + z3*(-fix1847)
		tmp3 := z1 + z2*fix0765
		tmp0 := (int64(w[0]) + int64(w[4])) << constBits
		tmp1 := (int64(w[0]) - int64(w[4])) << constBits
		tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
		tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2

		tmp0, tmp1, tmp2, tmp3 = int64(w[7]), int64(w[5]), int64(w[3]), int64(w[1])
		z1, z2, z3 = tmp0+tmp3, tmp1+tmp2, tmp0+tmp2
		z4 := tmp1 + tmp3
		z5 := (z3 + z4) * fix1175
		tmp0 *= fix0298
		tmp1 *= fix2053
		tmp2 *= fix3072
		tmp3 *= fix1501
		z1 *= -fix0899
		z2 *= -fix2562
		z3 *= -fix1961
		z4 *= -fix0390
		z3 += z5
		z4 += z5
		tmp0 += z1 + z3
		tmp1 += z2 + z4
		tmp2 += z2 + z3
		tmp3 += z1 + z4
		n := constBits + pass1 + 3
		o[0] = limit(descale(tmp10+tmp3, n))
		o[7] = limit(descale(tmp10-tmp3, n))
		o[1] = limit(descale(tmp11+tmp2, n))
		o[6] = limit(descale(tmp11-tmp2, n))
		o[2] = limit(descale(tmp12+tmp1, n))
		o[5] = limit(descale(tmp12-tmp1, n))
		o[3] = limit(descale(tmp13+tmp0, n))
		o[4] = limit(descale(tmp13-tmp0, n))
	}
}
