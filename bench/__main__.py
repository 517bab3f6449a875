"""Run the benchmark: `python -m bench [--smoke] [--variants a,b]` from the template root."""

import sys

from bench.harness import main

sys.exit(main())
