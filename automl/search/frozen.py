"""Imported by the trial fork server after its preloaded libraries, last (never elsewhere): moves every object they
made into the garbage collector's permanent generation (``gc.freeze``), so that a collection in a trial process does
not write to them and copy the pages it shares with the fork server. On the 100k-row generated table a trial process
owned 49 MB once it had unpickled its task (its first collections had copied most of the server's objects), 12 MB
frozen; at its peak 30-35 MB less of its own memory (17-20 MB less PSS), same scores.
"""
import gc

gc.collect()
gc.freeze()
