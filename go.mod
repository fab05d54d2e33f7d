module github.com/powerstrip-go/powerstrip

go 1.26.8

require (
	github.com/gobwas/glob v1.1.0
	github.com/google/go-cmp v0.7.0
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/net v0.62.0
	golang.org/x/sync v0.25.0
)

require golang.org/x/text v0.43.0 // indirect
