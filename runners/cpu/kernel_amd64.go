package cpu

import "golang.org/x/sys/cpu"

// useAVX2 selects the AVX2/FMA dot kernel.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func dot4AVX2(a, b0, b1, b2, b3 *float32, n int) (s0, s1, s2, s3 float32)

// dot4 returns a·b0, a·b1, a·b2, a·b3 over len(a) elements.
func dot4(a, b0, b1, b2, b3 []float32) (s0, s1, s2, s3 float32) {
	n := len(a)
	if !useAVX2 || n < 8 {
		return dot4Generic(a, b0, b1, b2, b3)
	}
	b0, b1, b2, b3 = b0[:n], b1[:n], b2[:n], b3[:n]
	m := n &^ 7
	s0, s1, s2, s3 = dot4AVX2(&a[0], &b0[0], &b1[0], &b2[0], &b3[0], m)
	if m < n {
		t0, t1, t2, t3 := dot4Generic(a[m:], b0[m:], b1[m:], b2[m:], b3[m:])
		s0, s1, s2, s3 = s0+t0, s1+t1, s2+t2, s3+t3
	}
	return
}

// kernelName names the dot kernel in use.
func kernelName() string {
	if useAVX2 {
		return "avx2-fma"
	}
	return "generic"
}
