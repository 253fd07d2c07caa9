//go:build !amd64

package cpu

// dot4 returns a·b0, a·b1, a·b2, a·b3 over len(a) elements.
func dot4(a, b0, b1, b2, b3 []float32) (s0, s1, s2, s3 float32) {
	return dot4Generic(a, b0, b1, b2, b3)
}

// kernelName names the dot kernel in use.
func kernelName() string { return "generic" }
