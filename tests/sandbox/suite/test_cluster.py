"""The sandbox's "integration tests": run on the master (the loopback sshd) as
the DC/OS integration tests are, with MASTER_HOSTS, SLAVE_HOSTS and
PUBLIC_SLAVE_HOSTS set to the cluster's private addresses."""
import ipaddress
import os


def hosts(name):
    value = os.environ[name]
    return [h for h in value.split(",") if h]


def test_master_hosts_are_private_addresses():
    masters = hosts("MASTER_HOSTS")
    assert len(masters) == 1
    assert all(ipaddress.ip_address(m).is_private for m in masters)


def test_two_private_agents():
    assert len(hosts("SLAVE_HOSTS")) == 2


def test_one_public_agent():
    assert len(hosts("PUBLIC_SLAVE_HOSTS")) == 1


def test_deliberately_failing():
    assert False, "fails on purpose: select it (-k deliberately) to see a failing run"


def test_deliberately_flaky():
    """Fails on its first attempt on a cluster and passes on the next: select
    it (-k deliberately_flaky) to see a flaky test. The attempts are counted
    in the stand-in DC/OS's state of this run, on the first master."""
    master = hosts("MASTER_HOSTS")[0]
    marker = f"/opt/mesosphere/sandbox-nodes/{master}/flaky-attempted"
    if not os.path.exists(marker):
        open(marker, "w").close()
        assert False, "fails on its first attempt on this cluster"
