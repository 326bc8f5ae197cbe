from support import ServerProcess


def test_web_and_tcp_users_see_each_other(server: ServerProcess) -> None:
    web = server.web("alice")
    tcp = server.tcp(nick="bob")
    web.say("hello bob")
    assert tcp.expect(lambda line: "hello" in line) == "[alice] hello bob"
    tcp.send("hi alice")
    event = web.expect(type="message", nick="bob")
    assert event["text"] == "hi alice"
