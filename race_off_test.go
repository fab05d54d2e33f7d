//go:build !race

package powerstrip

const raceEnabled = false
