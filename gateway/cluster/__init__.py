"""Several processes, several sites: leases on sites, fencing, the lease loop.

``leases`` (the rows: acquire, renew, release, members), ``fence`` (every transaction of a
site checks its lease's epoch), ``coordinator`` (one process's loop: fair share, takeover),
``urls`` (where each site's state lives). ``gateway.multisite`` runs the sites won.
"""

from gateway.cluster.coordinator import Coordinator
from gateway.cluster.fence import Fence, Fenced, install_fence
from gateway.cluster.leases import Lease, LeaseStore

__all__ = ["Coordinator", "Fence", "Fenced", "Lease", "LeaseStore", "install_fence"]
