package cpu

// dot4Generic is the portable dot4: one running sum per output.
func dot4Generic(a, b0, b1, b2, b3 []float32) (s0, s1, s2, s3 float32) {
	n := len(a)
	b0, b1, b2, b3 = b0[:n], b1[:n], b2[:n], b3[:n]
	for i, x := range a {
		s0 += x * b0[i]
		s1 += x * b1[i]
		s2 += x * b2[i]
		s3 += x * b3[i]
	}
	return
}

// matmulBlockBytes bounds the b rows kept hot while all a rows stream
// past them.
const matmulBlockBytes = 128 << 10

// matmulNT computes c[m, n] = a[m, k] · b[n, k]ᵀ, all row-major and
// contiguous.
func matmulNT(c, a, b []float32, m, n, k int) {
	matmulNTStrided(c, n, a, k, b, k, m, n, k)
}

// matmulNTStrided computes c[m, n] = a[m, k] · b[n, k]ᵀ with leading
// dimensions ldc, lda, ldb, four outputs at a time with dot4. Work is split
// over goroutines by rows of a (or, for one row, by columns); every output
// is one dot4 lane, so the result does not depend on the split.
func matmulNTStrided(c []float32, ldc int, a []float32, lda int, b []float32, ldb int, m, n, k int) {
	if m == 1 { // a matrix-vector product: split the output instead
		const chunk = 64
		blocks := (n + chunk - 1) / chunk
		if !parallelWorth(blocks, n*k) {
			ntCols(c, a, b, ldb, k, 0, n)
			return
		}
		parallelFor(blocks, n*k, func(_, bi int) {
			ntCols(c, a, b, ldb, k, bi*chunk, min(n, (bi+1)*chunk))
		})
		return
	}
	jb := max(4, (matmulBlockBytes/(4*max(k, 1)))&^3)
	const rowChunk = 16
	blocks := (m + rowChunk - 1) / rowChunk
	rows := func(i0, i1 int) {
		for j0 := 0; j0 < n; j0 += jb {
			for i := i0; i < i1; i++ {
				ntCols(c[i*ldc:], a[i*lda:], b, ldb, k, j0, min(n, j0+jb))
			}
		}
	}
	if !parallelWorth(blocks, m*n*k) {
		rows(0, m)
		return
	}
	parallelFor(blocks, m*n*k, func(_, bi int) {
		rows(bi*rowChunk, min(m, (bi+1)*rowChunk))
	})
}

// ntCols computes cr[j] = ar · b[j] for j in [j0, j1).
func ntCols(cr, ar, b []float32, ldb, k, j0, j1 int) {
	ar = ar[:k]
	j := j0
	for ; j+4 <= j1; j += 4 {
		cr[j], cr[j+1], cr[j+2], cr[j+3] = dot4(ar, b[j*ldb:], b[(j+1)*ldb:], b[(j+2)*ldb:], b[(j+3)*ldb:])
	}
	for ; j < j1; j++ {
		br := b[j*ldb:]
		cr[j], _, _, _ = dot4(ar, br, br, br, br)
	}
}
