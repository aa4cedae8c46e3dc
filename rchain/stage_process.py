"""`python -m rchain.stage_process RUN_DIR STAGE_ID [--entry MODULE:FUNCTION]`.

The process the supervisor starts for a stage. It lives in its own module so that `rchain.stages`
is imported once, under its own name (running it with -m would create a second copy as
`__main__`, with its own StageStopped class that a stage's `except` would not match).
"""

from rchain.stages import main

if __name__ == "__main__":
    main()
