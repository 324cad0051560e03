"""The person a synthetic résumé is about: education history, jobs and the fields left out."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Optional

from extractor.data.sample.wordlists import (
    BRANDS,
    BUSINESS_SCHOOLS,
    CITIES,
    COLLEGES,
    COMPANY_SUFFIXES,
    EDU_AGE_DONE,
    EDU_YEARS,
    GENERIC_DUTIES,
    GIVEN,
    HIGH_SCHOOLS,
    MAJORS_HIGHER,
    MAJORS_VOCATIONAL,
    SECTORS,
    SURNAMES,
    UNIVERSITIES,
    VOCATIONAL_SCHOOLS,
    Sector,
)


@dataclass
class Education:
    level: str
    school: str
    major: Optional[str]
    start: int
    end: int


@dataclass
class Job:
    company: str
    sector: Sector
    title: str
    start: int
    end: Optional[int]   # None: current job
    show_ind: bool
    duties: list[str]


@dataclass
class Person:
    name: str
    gender: str
    birth: int
    city: str
    edus: list[Education]
    jobs: list[Job]
    missing: set[str]
    target_sector: Sector


def draw_school(rng: random.Random, level: str) -> str:
    if level == "高中":
        return rng.choice(HIGH_SCHOOLS)
    if level == "中专":
        return rng.choice(VOCATIONAL_SCHOOLS)
    if level == "大专":
        return rng.choice(COLLEGES)
    if level == "MBA":
        return rng.choice(BUSINESS_SCHOOLS)
    return rng.choice(UNIVERSITIES)


def draw_major(rng: random.Random, level: str, previous: Optional[str]) -> Optional[str]:
    if level == "高中":
        return None
    if level == "MBA":
        return "工商管理"
    if level in ("中专", "大专"):
        return rng.choice(MAJORS_VOCATIONAL)
    if previous and rng.random() < 0.6:
        return previous
    return rng.choice(MAJORS_HIGHER)


def draw_company(rng: random.Random, sector: Sector) -> str:
    if rng.random() < 0.45:
        return rng.choice(sector.companies)
    city, brand, biz, suffix = rng.choice(CITIES), rng.choice(BRANDS), rng.choice(sector.biz), rng.choice(COMPANY_SUFFIXES)
    if rng.random() < 0.2:
        return f"{brand}{biz}（{city}）{suffix}"
    return f"{city}{brand}{biz}{suffix}"


def draw_person(rng: random.Random, long: bool, missing: set[str]) -> Person:
    level = rng.choices(("高中", "中专", "大专", "本科", "硕士", "MBA", "博士"),
                        weights=(6, 6, 15, 40, 22, 5, 6))[0]
    if level == "高中" and "major" not in missing:
        level = "大专"  # a high-school-only CV has no major, which would be an unplanned missing field
    birth = rng.randint(1965, 2022 - EDU_AGE_DONE[level])
    chain = {"博士": ["博士", "硕士", "本科"], "硕士": ["硕士", "本科"], "MBA": ["MBA", "本科"],
             "本科": ["本科"], "大专": ["大专"], "中专": ["中专"], "高中": ["高中"]}[level]
    if level in ("博士", "硕士") and rng.random() < 0.3:
        chain = chain[:1]
    if level in ("本科", "大专") and rng.random() < 0.15:
        chain = chain + ["高中"]
    edus: list[Education] = []
    prev_major = None
    for lv in reversed(chain):  # oldest first so a later degree can keep the earlier major
        end = birth + EDU_AGE_DONE[lv] + rng.choice((0, 0, 1))
        major = None if "major" in missing else draw_major(rng, lv, prev_major)
        prev_major = major or prev_major
        edus.append(Education(lv, draw_school(rng, lv), major, end - EDU_YEARS[lv], end))
    edus.reverse()
    # Work starts after the first full-time degree; an MBA is taken while working.
    year = max(e.end for e in edus if e.level != "MBA")
    n_jobs = rng.randint(3, 6) if long else rng.choices((0, 1, 2, 3), weights=(0, 45, 40, 15))[0]
    if "industry" in missing and not long and rng.random() < 0.3:
        n_jobs = 0
    sector = rng.choice(SECTORS)
    target = sector
    jobs: list[Job] = []
    for j in range(n_jobs):
        if year >= 2024:
            break
        if j and rng.random() < 0.35:
            sector = rng.choice(SECTORS)
        span = rng.randint(1, 5)
        end: Optional[int] = year + span
        if end >= 2024 or (j == n_jobs - 1 and rng.random() < 0.5):
            end = None
        n_duties = rng.randint(2, 4) if long else rng.choice((0, 1, 1, 2))
        pool = list(sector.duties) + list(GENERIC_DUTIES)
        jobs.append(Job(draw_company(rng, sector), sector, rng.choice(sector.titles), year, end,
                         "industry" not in missing and (not jobs or rng.random() < 0.5),
                         rng.sample(pool, min(n_duties, len(pool)))))
        if end is None:
            break
        year = end
    jobs.reverse()  # most recent first, as résumés usually list them
    if jobs and "industry" not in missing and not any(j.show_ind for j in jobs):
        jobs[0].show_ind = True
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return Person(name, rng.choice("男女"), birth, rng.choice(CITIES), edus, jobs, missing, target)
