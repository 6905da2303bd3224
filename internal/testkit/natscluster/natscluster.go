// Package natscluster starts a real JetStream cluster of embedded nats-server
// nodes on loopback for tests: every node has its own client and route port
// and its own file store, all routed to each other, as a three-node
// production cluster would be. Nodes can be killed and restarted to inject
// faults.
package natscluster

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ClusterName is the route cluster name every node joins.
const ClusterName = "dealcredit-test"

// readyTimeout bounds each wait for a node or the JetStream meta leader.
const readyTimeout = 30 * time.Second

// Cluster is a running set of clustered JetStream nodes. Its methods are safe
// for concurrent use.
type Cluster struct {
	tb    testing.TB
	mu    sync.Mutex
	nodes []*node
}

type node struct {
	opts *server.Options
	srv  *server.Server // nil while killed
}

// Start runs n clustered JetStream nodes (n >= 1; use 3 for R3 streams) on
// 127.0.0.1 with free ports and stores under tb.TempDir(), and returns once
// every node accepts clients and the JetStream meta leader is elected. The
// nodes are shut down in tb.Cleanup.
func Start(tb testing.TB, n int) *Cluster {
	tb.Helper()
	if n < 1 {
		tb.Fatalf("natscluster: need at least one node, got %d", n)
	}
	ports := freePorts(tb, 2*n)
	clientPorts, routePorts := ports[:n], ports[n:]
	routes := make([]string, n)
	for i, p := range routePorts {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	c := &Cluster{tb: tb}
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       clientPorts[i],
			JetStream:  true,
			StoreDir:   filepath.Join(tb.TempDir(), fmt.Sprintf("n%d", i+1)),
			SyncAlways: true,
			NoLog:      true,
			NoSigs:     true,
			Cluster: server.ClusterOpts{
				Name: ClusterName,
				Host: "127.0.0.1",
				Port: routePorts[i],
				// Reconnect quickly after a peer is killed and restarted.
				ConnectRetries: 120,
			},
			Routes: server.RoutesFromStr(strings.Join(routes, ",")),
		}
		c.nodes = append(c.nodes, &node{opts: opts})
	}
	tb.Cleanup(c.shutdownAll)
	// Start all nodes before waiting: a clustered JetStream node only becomes
	// usable once a quorum of peers is up.
	for i := range c.nodes {
		c.startNode(i)
	}
	for i := range c.nodes {
		c.waitReady(i)
	}
	c.WaitForMetaLeader()
	return c
}

// URLs returns the client URLs of all nodes (killed ones included, so a
// client given the list reconnects to a node when it comes back).
func (c *Cluster) URLs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = fmt.Sprintf("nats://%s:%d", n.opts.Host, n.opts.Port)
	}
	return urls
}

// URL returns the client URLs joined by commas, the form nats.Connect and
// NATS_URL accept.
func (c *Cluster) URL() string { return strings.Join(c.URLs(), ",") }

// Size returns the number of nodes, running or killed.
func (c *Cluster) Size() int { return len(c.nodes) }

// Server returns node i's server, or nil while it is killed.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].srv
}

// Kill shuts node i down and waits until it has stopped, as a crashed or
// stopped NATS node would. Killing a killed node is a no-op.
func (c *Cluster) Kill(i int) {
	c.tb.Helper()
	c.mu.Lock()
	s := c.nodes[i].srv
	c.nodes[i].srv = nil
	c.mu.Unlock()
	if s == nil {
		return
	}
	s.Shutdown()
	s.WaitForShutdown()
}

// Restart starts killed node i again on the same ports with the same store,
// and waits until it accepts clients. Restarting a running node kills it
// first.
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	c.Kill(i)
	c.startNode(i)
	c.waitReady(i)
}

// WaitForMetaLeader waits until one running node is the JetStream meta
// leader and every running node is current with it.
func (c *Cluster) WaitForMetaLeader() {
	c.tb.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		if c.metaReady() {
			return
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("natscluster: no JetStream meta leader after %s", readyTimeout)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
}

// metaReady reports whether exactly one running node leads the meta group,
// every running node is current with it, and the leader sees every running
// node as an online JetStream peer with statistics, and the route pools
// have settled (every running node holds the same number of routes).
// Without the last two conditions a stream created right after start-up can
// fail with "no suitable peers for placement, peer offline".
func (c *Cluster) metaReady() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	var leader *server.Server
	leaders, running, routes := 0, 0, -1
	for _, n := range c.nodes {
		if n.srv == nil {
			continue
		}
		running++
		switch r := n.srv.NumRoutes(); {
		case routes == -1:
			routes = r
		case r != routes:
			return false
		}
		if n.srv.JetStreamIsLeader() {
			leaders++
			leader = n.srv
		}
		if !n.srv.JetStreamIsCurrent() {
			return false
		}
	}
	return leaders == 1 && len(leader.JetStreamClusterPeers()) == running
}

func (c *Cluster) startNode(i int) {
	c.tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	opts := *n.opts // the server keeps and mutates its options
	s, err := server.NewServer(&opts)
	if err != nil {
		c.tb.Fatalf("natscluster: new server %s: %v", n.opts.ServerName, err)
	}
	go s.Start()
	n.srv = s
}

func (c *Cluster) waitReady(i int) {
	c.tb.Helper()
	s := c.Server(i)
	if s == nil || !s.ReadyForConnections(readyTimeout) {
		c.tb.Fatalf("natscluster: node %d not ready for connections after %s", i, readyTimeout)
	}
}

func (c *Cluster) shutdownAll() {
	for i := range c.nodes {
		c.Kill(i)
	}
}

// freePorts reserves n distinct free loopback ports. The listeners are held
// until all are chosen so the ports differ, then closed for the servers.
func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	ls := make([]net.Listener, 0, n)
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("natscluster: reserve port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}
