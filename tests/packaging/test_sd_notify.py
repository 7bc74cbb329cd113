"""systemd Type=notify: READY=1 arrives once the socket answers, STOPPING=1
on SIGTERM, and the daemon exits 0 having removed its socket."""
import os, signal, socket, subprocess, sys, tempfile, time

daemon = sys.argv[1]
n = failed = 0


def check(name, ok):
    global n, failed
    n += 1
    if not ok:
        failed += 1
    print(("ok" if ok else "not ok"), n, "-", name)


with tempfile.TemporaryDirectory() as tmp:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(os.path.join(tmp, "notify"))
    notify.settimeout(10)
    sock = os.path.join(tmp, "u.sock")
    env = dict(os.environ, NOTIFY_SOCKET=os.path.join(tmp, "notify"))
    log = open(os.path.join(tmp, "log"), "w+")
    p = subprocess.Popen([daemon, "--root", tmp + "/root", "--state", tmp + "/state", "--address", sock],
                         env=env, stderr=log)
    try:
        msg = notify.recv(4096).decode()
        check("READY=1 sent", "READY=1" in msg)
        # At READY the socket must already accept and answer.
        v = subprocess.run(["ctr", "-a", sock, "version"], capture_output=True, text=True, timeout=10)
        check("socket answers when READY=1 arrives", v.returncode == 0 and "0.1" in v.stdout)
        p.send_signal(signal.SIGTERM)
        msg = notify.recv(4096).decode()
        check("STOPPING=1 on SIGTERM", "STOPPING=1" in msg)
        check("clean exit status", p.wait(timeout=10) == 0)
        check("socket removed", not os.path.exists(sock))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    log.seek(0)
    text = log.read()
    check("logs in containerd's logfmt shape", 'level=info msg="serving..."' in text and 'time="' in text)
    if failed:
        print("# " + text.replace("\n", "\n# "))
print("1..%d" % n)
print("%d passed, %d failed" % (n - failed, failed))
sys.exit(1 if failed else 0)
