"""Rendering a person as résumé sections: layouts, surface forms and punctuation drawn per document,
every EDU, PRO, IND and ORG mention added to its ``Fragment`` with its label."""
from __future__ import annotations

import random
from typing import Optional

from extractor.data.sample.forms import SurfaceForms
from extractor.data.sample.fragment import Fragment, total_length
from extractor.data.sample.person import Education, Job, Person
from extractor.data.sample.wordlists import BULLETS, CITIES, PROJECT_LINES, PROJECTS, SELF_ASSESSMENT, SKILLS, Sector

STYLES = ("kv", "prose", "bullets", "table")
LONG_MIN_CHARS = 1000
TYPICAL_CHARS = (150, 600)


class Renderer:
    """Draws the text of each section for one person; every choice comes from ``rng``, in a fixed order."""

    def __init__(self, rng: random.Random, forms: SurfaceForms, person: Person) -> None:
        self.rng, self.forms, self.p = rng, forms, person

    # punctuation: mixed half/full width and occasional spaces, as in real pasted CVs
    def colon(self) -> str:
        return self.rng.choice(("：", "：", "：", ":", ": ", " ： ", "："))

    def comma(self) -> str:
        return self.rng.choice(("，", "，", "，", ",", ", "))

    def bullet(self) -> str:
        return self.rng.choice(BULLETS)

    def sep(self) -> str:
        return self.rng.choice((" | ", " | ", "|", " ｜ "))

    def dates(self, start: int, end: Optional[int]) -> str:
        r = self.rng
        m1, m2 = r.choice((2, 3, 7, 9, 9)), r.choice((1, 6, 6, 7, 12))
        if end is None:
            e_num, e_cn = r.choice(("至今", "今", "present")), r.choice(("至今", "现在"))
        else:
            e_num, e_cn = f"{end}.{m2:02d}", f"{end}年{m2}月"
        style = r.randrange(5)
        if style == 0:
            return f"{start}.{m1:02d}-{e_num}"
        if style == 1:
            return f"{start}年{m1}月-{e_cn}"
        if style == 2:
            return f"{start}/{m1:02d} – {e_num.replace('.', '/')}"
        if style == 3:
            return f"{start}-{end if end else '至今'}"
        return f"{start}.{m1:02d}至{e_num}"

    def edu_form(self, level: str, short: bool = False) -> str:
        return self.rng.choice((self.forms.edu_short if short else self.forms.edu)[level])

    def major_form(self, major: str) -> str:
        return self.rng.choice(self.forms.majors[major])

    def ind(self, sector: Sector, suffixed: bool) -> str:
        table = self.forms.ind_suffixed if suffixed else self.forms.ind_bare
        return self.rng.choice(table[sector.name])

    def title(self, text: str, english: str) -> str:
        r = self.rng.random()
        if r < 0.15:
            return english
        if r < 0.35:
            return f"【{text}】"
        if r < 0.5:
            return f"{text}{self.rng.choice(('：', ':'))}"
        if r < 0.6:
            return f"{text} / {english}"
        return text

    def style(self, base: str) -> str:
        return self.rng.choice(STYLES) if self.rng.random() < 0.25 else base

    # ---- sections
    def header(self, style: str) -> Fragment:
        p, r, f = self.p, self.rng, Fragment()
        if r.random() < 0.4:
            f.add(r.choice(("个人简历", "简历", "RESUME", "个人简历 Resume", "求职简历")) + "\n")
        birth = r.choice((f"{p.birth}年", f"{p.birth}.{r.randint(1, 12):02d}", f"{p.birth}年{r.randint(1, 12)}月"))
        top = self.p.edus[0] if "education" not in p.missing else None
        if style == "prose":
            f.add(f"{p.name}{self.comma()}{p.gender}{self.comma()}{birth}出生{self.comma()}现居{p.city}")
            if top is not None and r.random() < 0.4:
                f.add(self.comma()).add(self.edu_form(top.level), "EDU")
            f.add("。")
        elif style == "table":
            s = self.sep()
            f.add(f"姓名{s}{p.name}{s}性别{s}{p.gender}\n出生年月{s}{birth}{s}现居{s}{p.city}")
            if top is not None and r.random() < 0.5:
                f.add(f"\n最高学历{s}").add(self.edu_form(top.level), "EDU")
        else:
            lead = self.bullet() if style == "bullets" else ""
            lines = [f"姓名{self.colon()}{p.name}", f"性别{self.colon()}{p.gender}",
                     f"{r.choice(('出生年月', '出生年份', '出生日期'))}{self.colon()}{birth}",
                     f"{r.choice(('现居', '所在城市', '现居住地'))}{self.colon()}{p.city}"]
            if r.random() < 0.4:
                f.add(lead + "  ".join(lines[:2]) + "\n" + lead + "  ".join(lines[2:]))
            else:
                f.add("\n".join(lead + x for x in lines))
            if top is not None and r.random() < 0.4:
                f.add(f"\n{lead}{r.choice(('最高学历', '学历'))}{self.colon()}").add(self.edu_form(top.level), "EDU")
        return f

    def contact(self) -> Fragment:
        r, f = self.rng, Fragment()
        phone = "1" + r.choice("3578") + "".join(r.choice("0123456789") for _ in range(9))
        user = r.choice(("zhang", "li", "wang", "chen", "liu", "hr", "job", "xiao")) + str(r.randint(1, 9999))
        mail = f"{user}@{r.choice(('163.com', 'qq.com', 'gmail.com', 'outlook.com', 'example.com'))}"
        if r.random() < 0.5:
            f.add(f"{r.choice(('电话', '手机', 'Tel', 'Phone'))}{self.colon()}{phone}\n"
                  f"{r.choice(('邮箱', 'Email', 'E-mail'))}{self.colon()}{mail}")
        else:
            f.add(f"联系方式{self.colon()}{phone}{self.comma()}{mail}")
        return f

    def intention(self) -> Fragment:
        p, r, f = self.p, self.rng, Fragment()
        f.add(self.title("求职意向", "Job Objective") + "\n")
        job = r.choice(p.target_sector.titles)
        f.add(f"期望职位{self.colon()}{job}")
        if "industry" not in p.missing and r.random() < 0.6:
            f.add(f"{r.choice(('；', ';', '  '))}期望行业{self.colon()}").add(self.ind(p.target_sector, False), "IND")
        f.add(f"{r.choice(('；', ';', '  '))}期望城市{self.colon()}{r.choice(CITIES)}")
        return f

    def education(self, style: str) -> Fragment:
        p, r, f = self.p, self.rng, Fragment()
        f.add(self.title(r.choice(("教育背景", "教育经历", "学习经历")), "Education") + "\n")
        edus = p.edus if r.random() < 0.75 else list(reversed(p.edus))
        show_edu = "education" not in p.missing
        if style == "table" and r.random() < 0.6:
            s = self.sep()
            cols = ["时间", "学校"] + (["专业"] if any(e.major for e in edus) else []) + (["学历"] if show_edu else [])
            f.add(s.join(cols) + "\n")
        for i, e in enumerate(edus):
            if i:
                f.add("\n")
            f.extend(self.edu_entry(e, style, show_edu))
        return f

    def edu_entry(self, e: Education, style: str, show_edu: bool) -> Fragment:
        dates = self.dates(e.start, e.end)  # drawn first whatever the style, so the draws that follow stay put
        if style == "prose":
            return self.edu_prose(e, dates, show_edu)
        if style == "kv":
            return self.edu_key_values(e, dates, show_edu)
        if style == "bullets":
            return self.edu_bullet(e, dates, show_edu)
        return self.edu_table_row(e, dates, show_edu)

    def edu_prose(self, e: Education, dates: str, show_edu: bool) -> Fragment:
        r, f = self.rng, Fragment()
        t = r.randrange(4)
        if t == 0:
            f.add(f"{e.end}年毕业于").add(e.school, "ORG")
            if e.major:
                f.add(self.major_form(e.major), "PRO")
            if show_edu:
                d = self.edu_form(e.level)
                f.add(self.comma() + ("获" if d.endswith("学位") else "")).add(d, "EDU")
            f.add("。")
        elif t == 1:
            f.add(f"{e.start}年至{e.end}年就读于").add(e.school, "ORG")
            if e.major:
                f.add(self.comma() + "主修").add(self.major_form(e.major), "PRO")
            if show_edu:
                f.add(self.comma()).add(self.edu_form(e.level), "EDU")
            f.add("。")
        elif t == 2 and show_edu:
            f.add(self.edu_form(e.level, short=True), "EDU").add("毕业于").add(e.school, "ORG")
            if e.major:
                f.add(self.comma() + r.choice(("所学专业为", "专业是", "专业"))).add(self.major_form(e.major), "PRO")
            f.add(f"（{e.end}年）。")
        else:
            f.add(f"{dates}{r.choice(('在', ' 在'))}").add(e.school, "ORG")
            if show_edu:
                f.add("攻读").add(self.edu_form(e.level, short=True), "EDU")
            else:
                f.add("学习")
            if e.major:
                f.add(f"{self.comma()}专业{self.colon()}").add(self.major_form(e.major), "PRO")
            f.add("。")
        return f

    def edu_key_values(self, e: Education, dates: str, show_edu: bool) -> Fragment:
        r, f = self.rng, Fragment()
        if r.random() < 0.4:  # one line of gap-separated values rather than key: value lines
            gap = r.choice(("  ", " ", "   ", "\t"))
            f.add(dates + gap).add(e.school, "ORG")
            if e.major:
                f.add(gap).add(self.major_form(e.major), "PRO")
            if show_edu:
                f.add(gap).add(self.edu_form(e.level), "EDU")
            return f
        lines: list[tuple[str, Optional[str], Optional[str]]] = [
            (r.choice(("学校", "毕业院校", "就读学校")), e.school, "ORG")]
        if e.major:
            lines.append((r.choice(("专业", "所学专业")), self.major_form(e.major), "PRO"))
        if show_edu:
            lines.append((r.choice(("学历", "学位", "学历学位")), self.edu_form(e.level), "EDU"))
        lines.append((r.choice(("时间", "在校时间")), dates, None))
        if r.random() < 0.3:
            r.shuffle(lines)
        for k, (key, value, label) in enumerate(lines):
            f.add(("\n" if k else "") + key + self.colon()).add(value, label)
        return f

    def edu_bullet(self, e: Education, dates: str, show_edu: bool) -> Fragment:
        r, f = self.rng, Fragment()
        f.add(self.bullet() + dates + r.choice(("，", " ", "  "))).add(e.school, "ORG")
        if e.major:
            f.add(self.comma()).add(self.major_form(e.major), "PRO")
        if show_edu:
            d = self.edu_form(e.level)
            if r.random() < 0.5:
                f.add("（").add(d, "EDU").add("）")
            else:
                f.add(self.comma()).add(d, "EDU")
        return f

    def edu_table_row(self, e: Education, dates: str, show_edu: bool) -> Fragment:
        s, f = self.sep(), Fragment()
        f.add(dates + s).add(e.school, "ORG")
        if e.major:
            f.add(s).add(self.major_form(e.major), "PRO")
        if show_edu:
            f.add(s).add(self.edu_form(e.level), "EDU")
        return f

    def work(self, style: str, max_duties: int) -> Fragment:
        p, r, f = self.p, self.rng, Fragment()
        f.add(self.title(r.choice(("工作经历", "工作经验", "职业经历")), "Work Experience") + "\n")
        with_ind_col = "industry" not in p.missing
        if style == "table" and r.random() < 0.6:
            s = self.sep()
            f.add(s.join(["时间", "公司"] + (["行业"] if with_ind_col else []) + ["职位"]) + "\n")
        for i, job in enumerate(p.jobs):
            if i:
                f.add("\n")
            f.extend(self.job_entry(job, style, with_ind_col, job.duties[:max_duties]))
        return f

    def job_entry(self, job: Job, style: str, ind_col: bool, duties: list[str]) -> Fragment:
        r, f = self.rng, Fragment()
        dates = self.dates(job.start, job.end)
        semi = r.choice(("；", ";", "，"))
        if style == "prose":
            t = r.randrange(3)
            if t == 0:
                f.add(f"{dates}{self.comma()}在").add(job.company, "ORG").add(f"担任{job.title}")
                if job.show_ind:
                    f.add(self.comma() + r.choice(("从事", "从事", "专注于"))).add(self.ind(job.sector, True), "IND")
                f.add("。")
            elif t == 1:
                f.add(f"{job.start}年加入").add(job.company, "ORG")
                if job.show_ind:
                    f.add("（").add(self.ind(job.sector, False), "IND").add("）")
                f.add(f"{self.comma()}任{job.title}。")
            else:
                f.add(f"{dates}就职于").add(job.company, "ORG").add(f"{self.comma()}职位为{job.title}")
                if job.show_ind:
                    f.add(f"{self.comma()}在").add(self.ind(job.sector, True), "IND").add("积累了丰富经验")
                f.add("。")
            if duties:
                f.add(semi.join(duties) + "。")
        elif style == "kv":
            f.add(f"{r.choice(('公司名称', '工作单位', '公司'))}{self.colon()}").add(job.company, "ORG")
            if job.show_ind:
                f.add(f"\n{r.choice(('所属行业', '行业', '行业类别'))}{self.colon()}").add(self.ind(job.sector, False), "IND")
            f.add(f"\n{r.choice(('职位', '岗位', '担任职务'))}{self.colon()}{job.title}")
            f.add(f"\n{r.choice(('时间', '工作时间', '在职时间'))}{self.colon()}{dates}")
            if duties:
                f.add(f"\n{r.choice(('工作内容', '主要职责', '工作描述'))}{self.colon()}{semi.join(duties)}。")
        elif style == "bullets":
            f.add(self.bullet() + dates + " ").add(job.company, "ORG")
            if job.show_ind:
                f.add("（").add(self.ind(job.sector, False), "IND").add("）")
            f.add(f" {job.title}")
            for d in duties:
                f.add(f"\n  {self.bullet()}{d}")
        else:  # table
            s = self.sep()
            f.add(dates + s).add(job.company, "ORG")
            if job.show_ind:
                f.add(s).add(self.ind(job.sector, False), "IND")
            elif ind_col:
                f.add(s + "—")
            f.add(s + job.title)
            if duties:
                f.add("\n" + semi.join(duties))
        return f

    def projects(self, n: int, titled: bool = True) -> Fragment:
        r, f = self.rng, Fragment()
        if titled:
            f.add(self.title("项目经历", "Projects"))
        for name in r.sample(PROJECTS, min(n, len(PROJECTS))):
            f.add(f"\n项目名称{self.colon()}{name}（{r.randint(2010, 2023)}）\n"
                  f"项目描述{self.colon()}{self.comma().join(r.sample(PROJECT_LINES, 3))}。")
        return f

    def skills(self) -> Fragment:
        r, f = self.rng, Fragment()
        items = r.sample(SKILLS, r.randint(2, 4))
        f.add(self.title(r.choice(("专业技能", "技能", "技能证书")), "Skills") + "\n")
        if r.random() < 0.5:
            f.add("\n".join(self.bullet() + x for x in items))
        else:
            f.add(r.choice(("；", ";")).join(items) + "。")
        return f

    def self_assessment(self, n: int) -> Fragment:
        p, r, f = self.p, self.rng, Fragment()
        f.add(self.title("自我评价", "About Me") + "\n")
        if p.jobs and "industry" not in p.missing and r.random() < 0.35:
            years = max(1, 2024 - min(j.start for j in p.jobs))
            f.add(f"{years}年").add(self.ind(p.jobs[0].sector, True), "IND").add("从业经验" + self.comma())
        f.add("".join(r.sample(SELF_ASSESSMENT, min(n, len(SELF_ASSESSMENT)))))
        return f


def render_sections(rng: random.Random, forms: SurfaceForms, person: Person, long: bool) -> list[Fragment]:
    r = Renderer(rng, forms, person)
    base = rng.choice(STYLES)
    header = r.header(r.style(base))
    edu = r.education(r.style(base)) if not ({"education", "major"} <= person.missing and rng.random() < 0.5) else None
    work_style = r.style(base)
    optional: dict[str, Fragment] = {"contact": r.contact(), "intention": r.intention(), "skills": r.skills(),
                                  "self": r.self_assessment(rng.randint(1, 3))}
    if long:
        work = r.work(work_style, 99)
        optional["projects"] = r.projects(rng.randint(2, 5))
        keep = ["contact", "intention", "skills", "self", "projects"]
    else:
        work = r.work(work_style, 2)
        lo, hi = TYPICAL_CHARS
        # Shed detail until the required sections fit the typical length band.
        if total_length([header, work] + ([edu] if edu else [])) > hi - 40:
            work = r.work(work_style, 0)
        target = rng.randint(lo + 60, hi - 10)
        keep = []
        size = total_length([header, work] + ([edu] if edu else []))
        names = list(optional)
        rng.shuffle(names)
        for name in names:
            if size + len(optional[name]) + 2 <= target or size < lo + 20:
                if size + len(optional[name]) + 2 <= hi - 10:
                    keep.append(name)
                    size += len(optional[name]) + 2
    order = ["header", "contact", "intention", "edu", "work", "projects", "skills", "self"]
    if rng.random() < 0.3:
        order[3], order[4] = order[4], order[3]
    chosen = {"header": header, "edu": edu, "work": work if person.jobs else None}
    chosen.update({k: optional[k] for k in keep})
    frags = [chosen[k] for k in order if chosen.get(k) is not None]
    if long:
        while total_length(frags) <= LONG_MIN_CHARS + 20:
            optional["projects"].extend(r.projects(2, titled=False))
    return frags

