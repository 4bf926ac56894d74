# Shell functions for an emulated WAN mesh of network namespaces (source this).
#   mesh_up TAG N          namespaces gs<TAG>-hub (a bridge, 10.77.0.254) and
#                          gs<TAG>-dc1..N (10.77.0.1..N), each DC on a veth to the
#                          bridge, with an htb root on its egress: traffic to
#                          addresses without a class (the hub) goes unshaped.
#   mesh_rate TAG I J MBPS the rate from DC I to DC J: an htb class with a u32 filter
#                          on DC I's egress for 10.77.0.J; set again to change it live.
#   mesh_ns TAG I          the namespace of DC I (or "hub").
#   mesh_down TAG          removes every namespace (and so every veth) of TAG.
# Needs root.

mesh_ns() { echo "gs$1-$([ "$2" = hub ] && echo hub || echo "dc$2")"; }

mesh_up() {
  local tag=$1 n=$2 hub
  hub=$(mesh_ns "$tag" hub)
  ip netns add "$hub"
  ip -n "$hub" link set lo up
  ip -n "$hub" link add br0 type bridge
  ip -n "$hub" addr add 10.77.0.254/24 dev br0
  ip -n "$hub" link set br0 up
  for i in $(seq 1 "$n"); do
    local ns dev="g${tag}d$i" peer="g${tag}h$i"
    ns=$(mesh_ns "$tag" "$i")
    ip netns add "$ns"
    # Reno, as in testbed/emulated_wan.cc: BBR's window collapses without propagation delay.
    ip netns exec "$ns" sysctl -qw net.ipv4.tcp_congestion_control=reno
    ip -n "$ns" link set lo up
    ip link add "$dev" netns "$ns" type veth peer name "$peer" netns "$hub"
    ip -n "$ns" addr add "10.77.0.$i/24" dev "$dev"
    ip -n "$ns" link set "$dev" up
    ip -n "$hub" link set "$peer" master br0 up
    tc -n "$ns" qdisc add dev "$dev" root handle 1: htb default 999
    tc -n "$ns" class add dev "$dev" parent 1: classid 1:999 htb rate 10gbit
  done
}

mesh_rate() {
  local tag=$1 i=$2 j=$3 mbps=$4 ns dev="g${1}d$2" burst verb=add
  ns=$(mesh_ns "$tag" "$i")
  # TCP through htb needs a burst of at least rate/250 above 100 Mbit/s.
  burst=$((mbps * 1000000 / 8 / 250))
  [ "$burst" -lt 32000 ] && burst=32000
  tc -n "$ns" class show dev "$dev" classid "1:$j" | grep -q htb && verb=change
  tc -n "$ns" class "$verb" dev "$dev" parent 1: classid "1:$j" htb rate "${mbps}mbit" burst "$burst"
  if [ "$verb" = add ]; then
    # A queue of about 64 packets, as a router's, instead of the device's 1000:
    # acknowledgements on the reverse path then wait milliseconds, not a second.
    tc -n "$ns" qdisc add dev "$dev" parent "1:$j" handle "$((j + 10)):" pfifo limit 64
    tc -n "$ns" filter add dev "$dev" parent 1: protocol ip prio 1 u32 match ip dst "10.77.0.$j/32" flowid "1:$j"
  fi
}

mesh_down() {
  local tag=$1 ns
  for ns in $(ip netns list | awk '{print $1}' | grep "^gs$tag-"); do ip netns del "$ns"; done
}
