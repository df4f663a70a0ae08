"""Data the tests generate: related tables whose target depends on an aggregate of transactions; long-format series
whose class is their shape."""
from __future__ import annotations

import numpy as np
import pandas as pd


def customers_sessions_transactions(n_customers: int, seed: int, first_id: int = 0
                                    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.Series]:
    """Customers (age, plan, as_of date), their sessions and the sessions' transactions.

    The target ``big_spender`` says whether the customer's mean transaction amount, up to ``as_of``, is above the
    median: nothing in the customers table tells. Each customer also has transactions *after* ``as_of``, of a
    different size, which a leaking feature would pick up.
    """
    rng = np.random.default_rng(seed)
    ids = np.arange(first_id, first_id + n_customers)
    level = rng.normal(size=n_customers)  # each customer's spending level
    as_of = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n_customers), unit="D")
    customers = pd.DataFrame({"customer_id": ids, "age": rng.integers(18, 80, n_customers),
                              "plan": rng.choice(["free", "basic", "pro"], n_customers), "as_of": as_of})
    sessions, transactions = [], []
    for i, customer in enumerate(ids):
        for s in range(int(rng.integers(2, 6))):
            after = s == 0  # the first session of every customer happens after its cutoff
            start = as_of[i] + pd.Timedelta(days=int(rng.integers(1, 30)) if after else -int(rng.integers(1, 200)))
            session_id = f"s{customer}_{s}"
            sessions.append({"session_id": session_id, "customer_id": customer, "device": rng.choice(["web", "app"]),
                             "started": start})
            for _ in range(int(rng.integers(1, 5))):
                amount = np.exp(level[i] + rng.normal(scale=0.3)) * (10.0 if after else 1.0)
                transactions.append({"session_id": session_id, "amount": amount,
                                     "time": start + pd.Timedelta(minutes=int(rng.integers(0, 60)))})
    observed = pd.DataFrame(transactions).merge(pd.DataFrame(sessions), on="session_id")
    observed = observed[observed["time"] <= observed["customer_id"].map(dict(zip(ids, as_of)))]
    spend = observed.groupby("customer_id")["amount"].mean().reindex(ids)
    y = pd.Series((spend > np.median(level_spend := spend.to_numpy())).astype(int).to_numpy(), name="big_spender")
    del level_spend
    return customers, pd.DataFrame(sessions), pd.DataFrame(transactions), y


RELATIONSHIPS = [("customers", "customer_id", "sessions", "customer_id"),
                 ("sessions", "session_id", "transactions", "session_id")]


def flights_with_lookups(n_flights: int, seed: int) -> dict[str, pd.DataFrame | pd.Series]:
    """A fact table of flights (the table of X) with lookup tables as parents: planes (by tailnum), airlines (by
    carrier) and airports (twice: origin and destination). The target ``delayed`` depends on the plane's age, the
    airline's punctuality and the destination airport's size, none of which the flights table holds."""
    rng = np.random.default_rng(seed)
    planes = pd.DataFrame({"tailnum": [f"N{i:03d}" for i in range(40)], "year": rng.integers(1990, 2020, 40),
                           "seats": rng.integers(50, 300, 40)})
    airlines = pd.DataFrame({"carrier": list("ABCDEF"), "punctuality": rng.normal(size=6)})
    airports = pd.DataFrame({"faa": [f"P{i}" for i in range(12)], "size": rng.integers(1, 10, 12)})
    flights = pd.DataFrame({"flight": np.arange(n_flights), "tailnum": rng.choice(planes.tailnum, n_flights),
                            "carrier": rng.choice(airlines.carrier, n_flights),
                            "origin": rng.choice(airports.faa, n_flights), "dest": rng.choice(airports.faa, n_flights),
                            "distance": rng.integers(100, 3000, n_flights)})
    age = 2024 - flights.tailnum.map(dict(zip(planes.tailnum, planes.year)))
    punctual = flights.carrier.map(dict(zip(airlines.carrier, airlines.punctuality)))
    size = flights.dest.map(dict(zip(airports.faa, airports["size"])))
    score = 0.08 * (age - 17) - punctual + 0.3 * (size - 5) + rng.normal(scale=0.5, size=n_flights)
    y = pd.Series((score > 0).astype(int), name="delayed")
    return {"flights": flights.drop(columns="flight"), "planes": planes, "airlines": airlines, "airports": airports,
            "y": y}


FLIGHT_LOOKUPS = [("planes", "tailnum", "flights", "tailnum"), ("airlines", "carrier", "flights", "carrier")]
AIRPORTS_TWICE = [("airports", "faa", "flights", "origin"), ("airports", "faa", "flights", "dest")]


def sine_or_sawtooth(n_series: int, seed: int, length: int = 60, first_id: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Long-format series: a noisy sine or a noisy sawtooth of random period and phase, plus a pure-noise signal."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    frames, labels = [], {}
    for i in range(first_id, first_id + n_series):
        saw = bool(rng.integers(0, 2))
        cycle = t / rng.uniform(8, 20) + rng.uniform(0, 1)
        shape = 2 * (cycle % 1) - 1 if saw else np.sin(2 * np.pi * cycle)
        frames.append(pd.DataFrame({"id": i, "time": t, "value": shape + rng.normal(scale=0.3, size=length),
                                    "noise": rng.normal(size=length)}))
        labels[i] = "sawtooth" if saw else "sine"
    return pd.concat(frames, ignore_index=True), pd.Series(labels)
