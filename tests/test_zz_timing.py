import time
from tests.test_statement_counts import *  # noqa
from tests.test_statement_counts import pipe, counter  # noqa

async def test_t(pipe, engine, counter):
    t0=time.perf_counter()
    setups = await make_podcasts(pipe, engine, 100, 20, tag=4)
    t1=time.perf_counter()
    for n, setup in enumerate(setups):
        go_live(pipe, setup.channel_id, video_id(4000 + n))
    many, r, p = await counted_check(pipe, counter)
    t2=time.perf_counter()
    print("TIMING setup", t1-t0, "check", t2-t1, r, p)
    print("STMTS", len(many)); print("\n".join(many))
