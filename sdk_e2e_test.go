package powerstrip_test

// Issue #12 as SDK users met it: Docker's Python SDK decoding one JSON
// message per chunk (JSONDecodeError: Extra data on a re-framed stream),
// and dockerode following build progress and running a container. The
// scripts are in testdata/sdk; scripts/daemon.sh installs the SDKs.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sdkRun runs an SDK script through the echo config with the test's image,
// a label on what it creates (removed afterwards, even if the script hung),
// and a tag for what it builds.
func sdkRun(t *testing.T, e *e2eEnv, extraEnv []string, interpreter string, args ...string) ran {
	t.Helper()
	host, _ := e.echoProxy(t)
	name := uniqueName(t)
	label, tag := "powerstrip.test="+name, "powerstrip-e2e-sdk:"+name
	t.Cleanup(func() {
		if ids := strings.Fields(e.must(t, e.clis[0], e.daemon, "ps", "-aq", "--filter", "label="+label)); len(ids) > 0 {
			e.must(t, e.clis[0], e.daemon, append([]string{"rm", "-f"}, ids...)...)
		}
		e.docker(t, e.clis[0], e.daemon, nil, "rmi", "-f", tag)
	})
	env := append([]string{"DOCKER_HOST=" + host, "TEST_IMAGE=" + e.image, "TEST_LABEL=" + label, "TEST_TAG=" + tag,
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, extraEnv...)
	return runBounded(t, 2*hangBound, env, nil, interpreter, args...)
}

// docker-py: build and events with decode=True, and wait.
func TestE2EPythonSDK(t *testing.T) {
	e := needDocker(t)
	// Debian's python3-docker is for Debian's python3, whatever python3
	// comes first on PATH.
	python := needTool(t, "/usr/bin/python3", "apt-get install python3")
	if r := runBounded(t, hangBound, nil, nil, python, "-c", "import docker"); r.code != 0 {
		if os.Getenv("POWERSTRIP_E2E") == "required" {
			t.Fatalf("end-to-end tests are required: no docker module for %s (apt-get install python3-docker): %v", python, r)
		}
		t.Skipf("no docker module for %s", python)
	}
	r := sdkRun(t, e, nil, python, filepath.Join("testdata", "sdk", "docker_py.py"))
	if r.hung || r.code != 0 {
		t.Errorf("docker-py through the proxy: %v", r)
	}
	t.Log(r.stdout)
}

// nodeModules is where scripts/daemon.sh installs dockerode, outside the
// repository: POWERSTRIP_TEST_NODE_MODULES, or a cache under HOME.
func nodeModules() string {
	if dir := os.Getenv("POWERSTRIP_TEST_NODE_MODULES"); dir != "" {
		return dir
	}
	return filepath.Join(os.Getenv("HOME"), ".cache", "powerstrip-test", "node", "node_modules")
}

// dockerode: a build followed with followProgress, and run's exit code.
func TestE2ENodeSDK(t *testing.T) {
	e := needDocker(t)
	node := needTool(t, "/usr/bin/node", "apt-get install nodejs")
	modules := nodeModules()
	needTool(t, filepath.Join(modules, "dockerode", "package.json"), "npm install --prefix "+filepath.Dir(modules)+" dockerode@4")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+e.image+"\nRUN echo from-node-build\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := sdkRun(t, e, []string{"NODE_PATH=" + modules, "TEST_CONTEXT=" + dir}, node, filepath.Join("testdata", "sdk", "dockerode.js"))
	if r.hung || r.code != 0 {
		t.Errorf("dockerode through the proxy: %v", r)
	}
	t.Log(r.stdout)
}
