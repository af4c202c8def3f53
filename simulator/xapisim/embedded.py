"""Run a simulator inside this process (tests, the demo): ``with embedded() as pool: ...``."""
import contextlib
import threading

from .server import CallLog, Server
from .sim import Simulator


class Embedded:
    def __init__(self, sim, servers):
        self.sim = sim
        self.servers = servers
        self.url = "http://%s:%d" % servers[0].server_address[:2]


@contextlib.contextmanager
def embedded(host="127.0.0.1", port=0, members=0, latency_ms=0, call_log=None, faults=None, **options):
    sim = Simulator(master_address=host, members=members, **options)
    common = dict(latency_ms=latency_ms, call_log=CallLog(call_log), faults=faults)
    master = Server(sim, (host, port), **common)
    port = master.server_address[1]
    servers = [master] + [Server(sim, ("127.0.0.%d" % (i + 2), port), member=True, **common)
                          for i in range(members)]
    for server in servers:
        # A short poll interval: shutdown() waits for the serve loop to notice, and the
        # default 0.5 s made every embedded pool cost half a second to stop (tests start many).
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
    try:
        yield Embedded(sim, servers)
    finally:
        sim.guests.close()          # guest threads stop and save nothing more
        for server in servers:
            server.shutdown()
            server.server_close()
