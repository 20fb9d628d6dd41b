"""The hostile suite: programs that attack the grader each get a clear verdict, harm nothing, leave no process
behind, and grading goes on afterwards."""
import os, socket, tempfile, textwrap
from pathlib import Path

import psutil
import pytest

from research_kit.llm.sandbox import Limits, SandboxPool, VERDICTS, run_fresh

CPU = Limits(wall_seconds=8, cpu_seconds=1, memory_mb=256, file_size_mb=4, max_processes=16, max_output_bytes=20_000)
NAP = Limits(wall_seconds=1.5, cpu_seconds=1, memory_mb=256, file_size_mb=4, max_processes=16, max_output_bytes=20_000)
MARKER = Path(tempfile.gettempdir()) / f'rk-hostile-{os.getpid()}'
SECRET = 'rk-grader-secret-7f3a9'


def hostile_programs(port: int) -> dict:
    "name -> (program, limits, allowed verdicts, extra check on the Result or None)."
    P = lambda s: textwrap.dedent(s).strip() + '\n'
    return {
        'fork bomb': (P('''
            import os
            while True:
                try: os.fork()
                except OSError: pass
            '''), CPU, {'cpu_limit', 'timeout'}, None),
        'fork bomb (counted)': (P('''
            import os, time
            n = 0
            for _ in range(300):
                try: pid = os.fork()
                except OSError: continue
                if pid == 0:
                    time.sleep(60); os._exit(0)
                n += 1
            print(n)
            '''), CPU, {'ok'}, lambda r: int(r.stdout) < CPU.max_processes and r.leftovers_killed == int(r.stdout)),
        'memory bomb': ('x = [bytearray(1 << 26) for _ in range(1000)]\n', CPU, {'memory_limit'}, None),
        'one huge allocation': ('x = bytearray(1 << 40)\n', CPU, {'memory_limit'}, None),
        'infinite loop': ('while True: pass\n', CPU, {'cpu_limit'}, None),
        'ignores SIGTERM and spins': ('import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True: pass\n',
                                      CPU, {'cpu_limit'}, None),
        'sleeps forever': ('import time\ntime.sleep(3600)\n', NAP, {'timeout'}, None),
        'endless output': ('while True: print("y" * 1000)\n', CPU, {'output_limit'}, lambda r: len(r.stdout) == CPU.max_output_bytes),
        'endless stderr': ('import sys\nwhile True: sys.stderr.write("e" * 1000)\n', CPU, {'output_limit'}, None),
        'disk filling, one file': ('f = open("big", "wb")\nwhile True: f.write(b"x" * (1 << 20))\n', CPU, {'file_limit'}, None),
        'disk filling, many files': (P('''
            i = 0
            while True:
                open(f"f{i}", "wb").write(b"x" * 500_000); i += 1
            '''), CPU, {'file_limit'}, None),
        'network to the grader': (P(f'''
            import socket
            s = socket.socket(); s.settimeout(2)
            s.connect(("127.0.0.1", {port})); print("connected")
            '''), CPU, {'error'}, lambda r: 'connected' not in r.stdout),
        'network to the internet': (P('''
            import socket
            s = socket.create_connection(("1.1.1.1", 53), timeout=2); print("connected")
            '''), CPU, {'error'}, lambda r: 'connected' not in r.stdout),
        'writes outside its folder': (P(f'''
            import os
            for p in ("{MARKER}", "/root/rk-pwned", "/etc/rk-pwned", "{Path.cwd() / 'rk-pwned'}", "/var/tmp/rk-pwned"):
                try: open(p, "w").write("pwned"); print("wrote", p)
                except OSError as e: print("refused", p, e.errno)
            '''), CPU, {'ok'}, None),
        'reads the grader environment': (P(f'''
            import os, glob
            print(dict(os.environ))
            for p in glob.glob("/proc/*/environ"):
                try: data = open(p, "rb").read()
                except OSError: continue
                if b"{SECRET}" in data: print("LEAK", p)
            '''), CPU, {'ok'}, lambda r: 'LEAK' not in r.stdout and r.stdout.startswith('{}')),
        'kills its parent': ('import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n', CPU, {'error'},
                             lambda r: 'PermissionError' in r.stderr),
        # kill(-1) reaches only processes of the program's own uid, and Linux spares the caller
        'kills every process it can': ('import os, signal\nos.kill(-1, signal.SIGKILL)\nprint("alone")\n', CPU, {'ok', 'killed'}, None),
        'orphaned sleepers': (P('''
            import os, time
            for _ in range(3):
                if os.fork() == 0:
                    os.setsid()
                    if os.fork() == 0: time.sleep(3600)
                    os._exit(0)
            time.sleep(0.2)
            print("parent done")
            '''), CPU, {'ok'}, lambda r: r.stdout == 'parent done\n' and r.leftovers_killed >= 3),
        'child holds stdout open': ('import os, time\nif os.fork() == 0: time.sleep(3600)\nprint("bye")\n', CPU, {'ok'},
                                    lambda r: r.wall_seconds < CPU.wall_seconds and r.stdout == 'bye\n'),
        'deep recursion': (P('''
            import sys
            sys.setrecursionlimit(10 ** 7)
            def f(n): return f(n + 1) + 1
            f(0)
            '''), CPU, {'killed', 'error', 'memory_limit', 'cpu_limit'}, None),
        'reads stdin forever': ('import sys\nwhile True: sys.stdin.read()\n', CPU, {'cpu_limit'}, None),
        'waits for input that never comes': ('input()\n', CPU, {'error'}, lambda r: 'EOFError' in r.stderr),
        'thread bomb': ('import threading, time\nfor _ in range(10_000): threading.Thread(target=time.sleep, args=(60,)).start()\n',
                        CPU, {'error', 'memory_limit'}, None),
        'becomes root': ('import os\nos.setuid(0)\n', CPU, {'error'}, lambda r: 'PermissionError' in r.stderr),
        'inherited file descriptors': ('import os\nprint(sorted(os.listdir("/proc/self/fd")))\n', CPU, {'ok'},
                                       lambda r: r.stdout.strip() in ("['0', '1', '2', '3']", "['0', '1', '2']")),
        'exit status': ('import sys\nsys.exit(3)\n', CPU, {'error'}, lambda r: r.exit_code == 3),
        'syntax error': ('def (:\n', CPU, {'error'}, lambda r: 'SyntaxError' in r.stderr),
    }


def sandbox_processes(pool) -> list:
    "Processes still alive that belong to the sandbox: any process of a sandbox uid, or a descendant of a worker."
    uids = set(pool.sandbox_uids)
    found = [p for p in psutil.process_iter(['uids']) if p.info['uids'] and p.info['uids'].real in uids]
    for pid in pool.worker_pids:
        try: found += psutil.Process(pid).children(recursive=True)
        except psutil.NoSuchProcess: pass
    return found


@pytest.fixture(scope='module')
def pool():
    os.environ['RK_SANDBOX_TEST_SECRET'] = SECRET
    with SandboxPool(2) as p:
        yield p
    os.environ.pop('RK_SANDBOX_TEST_SECRET', None)


FULL_ISOLATION = ('network_namespace', 'private_tmp', 'unprivileged_uid', 'pids_cgroup')


def test_hostile_suite(pool):
    missing = [k for k in FULL_ISOLATION if not pool.capabilities[k]]
    if missing: pytest.skip(f'isolation layers not available here (needs root): {missing}; notes: {pool.capabilities["notes"]}')
    listener = socket.socket(); listener.bind(('127.0.0.1', 0)); listener.listen(); listener.settimeout(0)
    programs = hostile_programs(listener.getsockname()[1])
    assert len(programs) >= 20
    workers_before = list(pool.worker_pids)
    results = dict(zip(programs, pool.map([(code, '', lim) for code, lim, _, _ in programs.values()])))
    problems = []
    for name, (_, _, allowed, check) in programs.items():
        r = results[name]
        assert r.verdict in VERDICTS
        if r.verdict not in allowed: problems.append(f'{name}: verdict {r.verdict} ({r.detail}) not in {allowed}')
        elif check and not check(r): problems.append(f'{name}: check failed on {r}')
    assert not problems, '\n'.join(problems)
    # nothing reached the grader, nothing was written outside, the workers are unharmed, nothing is left running
    with pytest.raises(BlockingIOError): listener.accept()
    listener.close()
    for p in (MARKER, Path('/root/rk-pwned'), Path('/etc/rk-pwned'), Path.cwd() / 'rk-pwned', Path('/var/tmp/rk-pwned')):
        assert not p.exists(), p
    assert 'refused' in results['writes outside its folder'].stdout
    assert pool.worker_pids == workers_before and all(psutil.pid_exists(p) for p in workers_before)
    assert sandbox_processes(pool) == []
    # and grading goes on
    after = pool.map([('print(int(input()) + 1)', f'{i}\n') for i in range(10)])
    assert [r.stdout for r in after] == [f'{i + 1}\n' for i in range(10)]


def test_private_tmp_is_fresh(pool):
    "A file a program leaves in its folder or in /tmp is gone for the next program."
    if not pool.capabilities['private_tmp']: pytest.skip('no mount namespace on this system')
    first = pool.run('open("/tmp/left", "w").write("x"); open("here", "w").write("x"); import os; print(os.getcwd())')
    second = pool.run('import os; print(os.path.exists("/tmp/left"), os.path.exists("here"))')
    assert (first.stdout, second.stdout) == ('/tmp/work\n', 'False False\n')
    assert not Path('/tmp/left').exists()


def test_isolation_layers_reported(pool):
    caps = pool.capabilities
    assert set(caps) >= {'network_namespace', 'private_tmp', 'unprivileged_uid', 'pids_cgroup', 'notes'}
    if os.geteuid() == 0:       # this machine allows every layer when root: a regression here is a real loss
        assert caps['network_namespace'] and caps['unprivileged_uid'], caps


def test_fresh_process_gives_same_verdicts():
    assert run_fresh('print(input()[::-1])', 'abc\n').stdout == 'cba\n'
    assert run_fresh('import time; time.sleep(60)', limits=NAP).verdict == 'timeout'
    assert run_fresh('x = bytearray(1 << 40)', limits=CPU).verdict == 'memory_limit'


def test_a_dead_worker_is_replaced():
    import signal, time
    with SandboxPool(1) as pool:
        old = pool.worker_pids[0]
        os.kill(old, signal.SIGKILL)
        time.sleep(0.2)
        assert pool.run('print("still grading")').stdout == 'still grading\n'
        assert pool.worker_pids != [old]
        assert not Path(f'/sys/fs/cgroup/pids/research_kit_sandbox_{old}').exists()
