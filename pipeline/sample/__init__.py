"""The synthetic sample: item logs calibrated to figures CAR published, written dirty.

plan.py says what the curated data must contain (the calibration), records.py turns the plan
into clean records plus the duplicates, versions and invalid rows a real archive holds, and
write.py spells them the way four field teams' tools would and writes the files.
"""
