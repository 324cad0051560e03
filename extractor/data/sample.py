"""Synthetic Chinese résumés with exact gold spans, for the demo and the tests.

Everything here is written by this module from hand-made word lists and
templates; no external data. Text is built piece by piece and every EDU, PRO,
IND and ORG mention is recorded as it is appended, so gold offsets are exact by
construction (nothing is searched for afterwards). Gold ``fields`` are what the
schema's rules derive from the gold entities (``field_strings``), so a model
that finds the gold spans gets the gold fields.

Not a benchmark: the templates are finite and a model can learn them. Its job
is to exercise the whole pipeline with enough variety (layouts, surface forms,
lengths, missing fields) that trivial memorisation of values does not suffice.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from extractor.data.documents import Document, Entity
from extractor.paths import PRODUCT_SCHEMA
from extractor.rules.fields import field_strings, normalize
from extractor.rules.schema import Normalizer, Schema

DEFAULT_SCHEMA_PATH = PRODUCT_SCHEMA

# The 20 sections (门类) of GB/T 4754-2017; gold industry values are drawn from these.
GBT4754_SECTIONS = (
    "农、林、牧、渔业", "采矿业", "制造业", "电力、热力、燃气及水生产和供应业", "建筑业",
    "批发和零售业", "交通运输、仓储和邮政业", "住宿和餐饮业", "信息传输、软件和信息技术服务业",
    "金融业", "房地产业", "租赁和商务服务业", "科学研究和技术服务业", "水利、环境和公共设施管理业",
    "居民服务、修理和其他服务业", "教育", "卫生和社会工作", "文化、体育和娱乐业",
    "公共管理、社会保障和社会组织", "国际组织",
)

FIELD_NAMES = ("education", "major", "industry")
STYLES = ("kv", "prose", "bullets", "table")
LONG_MIN_CHARS = 1000
TYPICAL_CHARS = (150, 600)

# ---------------------------------------------------------------- word lists

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔向汤"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红鹏辉玲丹宇浩凯健俊帆帅旭宁婷雪琳晨欣悦博文斌思佳嘉子梓睿晓一诗雨泽航鑫峰"
CITIES = ("北京", "上海", "深圳", "杭州", "广州", "成都", "武汉", "南京", "苏州", "西安", "重庆", "天津",
          "长沙", "郑州", "厦门", "合肥", "青岛", "宁波", "济南", "昆明")

UNIVERSITIES = (
    "北京大学", "清华大学", "复旦大学", "上海交通大学", "浙江大学", "南京大学", "武汉大学", "中山大学",
    "华中科技大学", "四川大学", "山东大学", "吉林大学", "厦门大学", "同济大学", "南开大学", "天津大学",
    "东南大学", "西安交通大学", "哈尔滨工业大学", "北京航空航天大学", "北京理工大学", "中国人民大学",
    "北京师范大学", "华东师范大学", "中南大学", "湖南大学", "重庆大学", "电子科技大学", "大连理工大学",
    "华南理工大学", "兰州大学", "西北工业大学", "中国科学技术大学", "郑州大学", "苏州大学", "南京理工大学",
    "上海财经大学", "中央财经大学", "对外经济贸易大学", "西南财经大学", "江南大学", "深圳大学", "宁波大学",
    "杭州电子科技大学", "广东工业大学", "河北工业大学", "南昌大学", "云南大学", "贵州大学", "广西大学",
    "福州大学", "昆明理工大学", "长沙理工大学", "香港大学", "香港科技大学",
    "University of Manchester", "National University of Singapore", "Monash University",
    "University of Sydney", "University of Toronto",
)
BUSINESS_SCHOOLS = ("中欧国际工商学院", "长江商学院", "北京大学光华管理学院", "清华大学经济管理学院",
                    "复旦大学管理学院", "上海交通大学安泰经济与管理学院")
COLLEGES = ("深圳职业技术学院", "武汉职业技术学院", "浙江金融职业学院", "广州番禺职业技术学院",
            "北京电子科技职业学院", "天津职业大学", "金华职业技术学院", "无锡职业技术学院",
            "成都航空职业技术学院", "山东商业职业技术学院", "长沙民政职业技术学院", "重庆电子工程职业学院")
VOCATIONAL_SCHOOLS = ("上海市材料工程学校", "北京市商业学校", "杭州市中策职业学校", "广州市轻工职业学校",
                      "武汉市第一商业学校", "南京市莫愁中等专业学校", "成都市工业职业技术学校")
HIGH_SCHOOLS = ("北京市第四中学", "杭州第二中学", "南京外国语学校", "成都市第七中学", "华南师范大学附属中学",
                "石家庄二中", "衡水中学", "郑州一中", "西安高新一中", "上海中学", "深圳中学", "长沙市长郡中学")

MAJORS_HIGHER = (
    "计算机科学与技术", "软件工程", "电子信息工程", "通信工程", "自动化", "机械设计制造及其自动化",
    "电气工程及其自动化", "土木工程", "建筑学", "会计学", "金融学", "经济学", "国际经济与贸易", "工商管理",
    "市场营销", "人力资源管理", "财务管理", "法学", "汉语言文学", "英语", "新闻学", "广告学", "临床医学",
    "药学", "护理学", "数学与应用数学", "统计学", "物理学", "化学", "生物科学", "环境工程", "材料科学与工程",
    "车辆工程", "物流管理", "电子商务", "信息管理与信息系统", "数据科学与大数据技术", "人工智能", "网络工程",
    "信息安全", "行政管理", "教育学", "心理学", "视觉传达设计", "工业设计", "食品科学与工程", "酒店管理",
    "旅游管理", "农学", "采矿工程",
)
MAJORS_VOCATIONAL = ("数控技术", "机电一体化技术", "会计电算化", "护理", "汽车检测与维修技术",
                     "计算机应用技术", "电子商务", "物流管理", "酒店管理", "建筑工程技术", "市场营销", "学前教育")
# Short surface forms the schema maps back to a canonical major.
MAJOR_ALIASES = {"计算机科学与技术": ("计算机", "计算机科学"), "软件工程": ("软件",),
                 "会计学": ("会计",), "金融学": ("金融",)}

EDU_FORMS = {
    "高中": ("高中", "高中学历", "高中毕业"),
    "中专": ("中专", "中专学历", "职高", "技校", "中专毕业"),
    "大专": ("大专", "专科", "大专学历", "专科学历", "高职", "大专毕业"),
    "本科": ("本科", "本科学历", "大学本科", "学士学位", "学士", "统招本科", "全日制本科", "工学学士", "本科毕业"),
    "硕士": ("硕士", "硕士研究生", "硕士学位", "研究生", "研究生学历", "工学硕士", "全日制硕士"),
    "博士": ("博士", "博士研究生", "博士学位", "工学博士"),
    "MBA": ("MBA", "EMBA", "工商管理硕士", "MPA"),
}
# Bare level words, for templates such as "本科毕业于…" where a suffix would read badly.
EDU_SHORT = {"高中": ("高中",), "中专": ("中专",), "大专": ("大专", "专科"), "本科": ("本科",),
             "硕士": ("硕士", "研究生"), "博士": ("博士",), "MBA": ("MBA", "EMBA")}
EDU_RANK = {"高中": 0, "中专": 1, "大专": 2, "本科": 3, "硕士": 4, "MBA": 4, "博士": 5}
EDU_YEARS = {"高中": 3, "中专": 3, "大专": 3, "本科": 4, "硕士": 3, "MBA": 2, "博士": 4}
EDU_AGE_DONE = {"高中": 18, "中专": 18, "大专": 21, "本科": 22, "硕士": 25, "MBA": 32, "博士": 29}


@dataclass(frozen=True)
class _Sector:
    name: str              # GB/T 4754 section the mentions normalise to
    cores: tuple[str, ...]  # industry words; suffixed variants are derived and checked
    extra: tuple[str, ...]  # forms that are not core+suffix (e.g. 制造业)
    companies: tuple[str, ...]
    biz: tuple[str, ...]    # business words for made-up company names
    titles: tuple[str, ...]
    duties: tuple[str, ...]


SECTORS = (
    _Sector("信息传输、软件和信息技术服务业", ("互联网", "移动互联网", "软件", "软件开发", "信息技术", "IT互联网", "通信", "移动通信"), (),
            ("阿里巴巴集团", "腾讯科技（深圳）有限公司", "百度在线网络技术（北京）有限公司", "华为技术有限公司",
             "字节跳动", "网易", "中兴通讯股份有限公司", "金山软件", "用友网络科技股份有限公司", "科大讯飞股份有限公司"),
            ("网络科技", "信息技术", "软件", "数据科技", "智能科技", "通信技术"),
            ("Java开发工程师", "后端开发工程师", "前端工程师", "产品经理", "测试工程师", "算法工程师", "运维工程师", "数据分析师"),
            ("负责后端服务开发，使用Java和Spring Boot", "参与App版本迭代，日活用户超过200万", "搭建CI/CD流程，发布效率提升30%",
             "负责推荐算法优化，点击率提升5%", "编写自动化测试脚本，覆盖核心接口", "维护MySQL和Redis集群")),
    _Sector("金融业", ("金融", "银行", "证券", "保险", "金融投资", "证券投资"), ("金融业", "保险业", "证券业"),
            ("中国工商银行", "招商银行", "中国平安保险（集团）股份有限公司", "中信证券股份有限公司", "华泰证券",
             "兴业银行", "中国人寿保险股份有限公司", "浦发银行", "宁波银行"),
            ("投资管理", "资产管理", "财富管理"),
            ("客户经理", "风控专员", "投资分析师", "理财顾问", "信贷审批员", "行业研究员"),
            ("负责对公客户开发与维护，管理资产规模3亿元", "撰写行业研究报告20余篇", "参与信贷审批与贷后管理",
             "完成年度保费目标的120%", "搭建风险评估模型")),
    _Sector("房地产业", ("房地产", "房地产开发", "房地产经纪"), ("房地产业",),
            ("万科企业股份有限公司", "碧桂园控股有限公司", "保利发展控股集团", "龙湖集团", "华润置地", "绿城中国"),
            ("置业", "房地产开发", "地产"),
            ("置业顾问", "项目经理", "成本经理", "营销策划"),
            ("负责楼盘销售，年度销售额超过8000万", "跟进项目报建与验收", "编制项目成本测算", "策划开盘活动")),
    _Sector("制造业", ("制造", "汽车", "汽车制造", "装备制造", "电子制造", "医药制造", "生物医药", "电子"), ("制造业",),
            ("比亚迪股份有限公司", "上海汽车集团股份有限公司", "美的集团", "格力电器", "海尔集团", "宁德时代",
             "恒瑞医药", "三一重工", "富士康科技集团", "京东方科技集团"),
            ("机械制造", "电子", "汽车零部件", "精密制造", "医药", "新材料"),
            ("工艺工程师", "质量工程师", "生产主管", "采购专员", "机械设计工程师", "研发工程师"),
            ("负责产线工艺改进，良品率提升至98.5%", "推行6S管理", "主导新产品试产", "负责供应商质量审核",
             "使用SolidWorks完成结构设计")),
    _Sector("建筑业", ("建筑", "建筑工程", "建筑施工"), ("建筑业",),
            ("中国建筑第八工程局有限公司", "中铁建工集团", "上海建工集团", "中国交通建设集团"),
            ("建设工程", "建筑工程", "建筑设计"),
            ("土建工程师", "施工员", "造价工程师", "安全员", "项目经理"),
            ("负责现场施工管理，建筑面积12万平方米", "编制施工组织设计", "负责工程量清单与预结算")),
    _Sector("教育", ("教育", "教育培训", "在线教育", "K12教育", "培训"), (),
            ("新东方教育科技集团", "好未来教育集团", "猿辅导", "作业帮", "中公教育"),
            ("教育科技", "培训学校", "教育咨询"),
            ("英语教师", "课程顾问", "教研主管", "班主任"),
            ("负责初中英语教学，所带班级平均分提升15分", "设计线上课程", "完成续费率85%")),
    _Sector("卫生和社会工作", ("医疗", "医疗健康", "医疗服务"), (),
            ("北京协和医院", "四川大学华西医院", "爱尔眼科医院集团", "美年大健康"),
            ("医疗管理", "健康管理", "门诊部"),
            ("护士", "主治医师", "医务专员", "健康管理师"),
            ("负责病区日常护理工作", "参与门诊接诊，日均接诊40人次", "协助院感管理")),
    _Sector("批发和零售业", ("零售", "批发", "电商", "零售连锁", "快消零售"), ("零售业",),
            ("苏宁易购", "京东集团", "永辉超市", "国美电器", "沃尔玛（中国）投资有限公司", "唯品会"),
            ("商贸", "贸易", "百货"),
            ("门店店长", "采购经理", "电商运营", "区域督导"),
            ("管理门店员工15人，年销售额1200万", "负责天猫店铺运营，GMV同比增长40%", "优化商品陈列")),
    _Sector("交通运输、仓储和邮政业", ("物流", "运输", "交通运输", "快递物流", "仓储物流"), ("物流业",),
            ("顺丰速运有限公司", "中通快递", "京东物流", "德邦物流", "中国远洋海运集团", "圆通速递"),
            ("物流", "供应链管理", "运输"),
            ("物流主管", "调度员", "仓储经理", "运输专员"),
            ("负责华东区域干线调度", "管理仓库面积2万平方米", "推动WMS系统上线")),
    _Sector("住宿和餐饮业", ("餐饮", "酒店", "餐饮服务", "酒店服务"), ("餐饮业",),
            ("海底捞", "西贝餐饮", "华住酒店集团", "锦江国际酒店"),
            ("餐饮管理", "酒店管理"),
            ("餐厅经理", "前厅主管", "厨师长", "客房经理"),
            ("负责门店日常运营，翻台率提升20%", "培训新员工30余人", "负责前厅接待与客诉处理")),
    _Sector("租赁和商务服务业", ("咨询", "管理咨询", "广告", "广告营销"), (),
            ("麦肯锡咨询", "埃森哲（中国）有限公司", "德勤咨询", "分众传媒", "蓝色光标", "奥美广告"),
            ("企业管理咨询", "广告", "营销策划"),
            ("咨询顾问", "客户总监", "媒介策划", "项目经理"),
            ("为30余家企业提供战略咨询", "负责品牌广告投放，预算500万", "撰写项目建议书")),
    _Sector("电力、热力、燃气及水生产和供应业", ("能源", "新能源", "电力", "电力能源"), (),
            ("国家电网有限公司", "中国南方电网", "隆基绿能", "华能国际电力"),
            ("新能源", "电力工程", "能源科技", "燃气"),
            ("电气工程师", "运维专员", "光伏项目经理"),
            ("负责110kV变电站运维", "参与光伏电站EPC项目", "编制设备检修计划")),
    _Sector("农、林、牧、渔业", ("农业",), ("农业科技", "农业种植"),
            ("新希望集团", "北大荒农垦集团", "温氏食品集团", "隆平高科"),
            ("农业科技", "种业", "生态农业"),
            ("农艺师", "技术员", "养殖场场长"),
            ("负责水稻品种试验示范", "推广测土配方施肥技术", "管理养殖场生产")),
    _Sector("采矿业", ("采矿", "煤炭", "煤炭开采"), ("采矿业",),
            ("中国神华能源", "紫金矿业", "中煤能源集团", "江西铜业"),
            ("矿业", "煤业", "矿产资源"),
            ("采矿工程师", "地质工程师", "安全主管"),
            ("负责井下采掘计划", "参与矿山安全检查", "编制地质勘查报告")),
    _Sector("文化、体育和娱乐业", ("传媒", "文化传媒", "影视传媒", "文化"), (),
            ("华谊兄弟传媒", "湖南广播电视台", "光线传媒", "阅文集团", "完美世界"),
            ("文化传媒", "影视传媒", "文化传播"),
            ("编导", "新媒体运营", "内容编辑", "制片助理"),
            ("策划短视频内容，单条播放量超100万", "负责公众号运营，粉丝增长5万", "参与综艺节目后期制作")),
    _Sector("科学研究和技术服务业", ("科研", "科研服务"), (),
            ("中国科学院计算技术研究所", "中国科学院自动化研究所", "华大基因", "药明康德"),
            ("检测技术", "技术研究院"),
            ("研究助理", "实验员", "项目研究员"),
            ("发表SCI论文3篇", "负责实验设计与数据分析", "参与国家自然科学基金项目")),
)

BRANDS = ("云帆", "星辰", "博雅", "鼎盛", "泰和", "启明", "新创", "盛世", "安达", "瑞丰", "天成", "宏图", "联创",
          "智联", "云途", "海纳", "弘毅", "卓越", "东方", "银河", "腾飞", "华信", "恒通", "远景", "金桥", "正泰",
          "德润", "嘉禾", "明远", "汇智", "锦程", "蓝海", "凯盛", "九州", "同创", "鑫源")
COMPANY_SUFFIXES = ("有限公司", "股份有限公司", "集团有限公司", "有限责任公司")
GENERIC_DUTIES = ("负责团队5人的日常管理", "参与年度预算编制", "撰写周报和月度总结", "对接客户需求，推动项目按期交付",
                  "优化业务流程，效率提升20%", "配合部门完成KPI考核", "组织跨部门协作会议", "整理归档项目文档")
SKILLS = ("熟练掌握Python、Java、SQL", "熟悉Linux和Docker", "英语CET-6，能阅读英文文档", "英语四级",
          "熟练使用Excel、PowerPoint", "持有C1驾照", "会计从业资格证", "普通话二级甲等", "PMP认证",
          "熟悉SAP系统", "掌握AutoCAD", "日语N2", "熟悉Photoshop和Premiere")
SELF_ASSESSMENT = ("性格开朗，善于沟通，有较强的团队合作精神。", "工作认真负责，抗压能力强。",
                   "学习能力强，能快速适应新环境。", "具有良好的职业道德和责任心。", "热爱本职工作，执行力强。",
                   "做事细致，有条理，注重结果。", "乐于接受挑战，希望在新的岗位上发挥所长。")
PROJECTS = ("客户关系管理系统", "供应链优化项目", "数据中台建设", "门店数字化改造", "智能风控平台", "线上课程平台",
            "仓储管理系统", "年度品牌升级", "成本管控专项", "新产品导入项目", "ERP系统实施", "质量体系认证")
PROJECT_LINES = ("项目周期6个月，团队12人", "负责需求调研与方案设计", "完成上线后用户满意度达到95%",
                 "协调供应商与内部团队", "输出项目总结报告", "节约成本约150万元", "制定里程碑计划并跟踪进度",
                 "组织用户培训3场")
BULLETS = ("• ", "- ", "· ", "* ", "▪ ")


# ---------------------------------------------------------------- assembly


class _Frag:
    """A run of text pieces, some labelled; offsets are assigned only on assembly."""

    __slots__ = ("pieces",)

    def __init__(self) -> None:
        self.pieces: list[tuple[str, Optional[str]]] = []

    def add(self, text: str, label: Optional[str] = None) -> "_Frag":
        if text:
            if label is not None and text != text.strip():
                raise AssertionError(f"entity text {text!r} has whitespace at its edges")
            self.pieces.append((text, label))
        return self

    def extend(self, other: "_Frag") -> "_Frag":
        self.pieces.extend(other.pieces)
        return self

    def __len__(self) -> int:
        return sum(len(t) for t, _ in self.pieces)


def _assemble(frags: list[_Frag], rng: random.Random) -> tuple[str, list[Entity]]:
    parts: list[str] = []
    entities: list[Entity] = []
    pos = 0
    for i, frag in enumerate(frags):
        if i:
            sep = "\n\n" if rng.random() < 0.3 else "\n"
            parts.append(sep)
            pos += len(sep)
        for text, label in frag.pieces:
            if label is not None:
                entities.append(Entity(pos, pos + len(text), label))
            parts.append(text)
            pos += len(text)
    return "".join(parts), entities


def _total(frags: list[_Frag]) -> int:
    # Separators count one character each here; "\n\n" may add a few more, which the bounds allow for.
    return sum(len(f) for f in frags) + max(len(frags) - 1, 0)


# ---------------------------------------------------------------- surface forms


def _field_norm(schema: Schema, name: str) -> Optional[Normalizer]:
    for spec in schema.fields:
        if spec.name == name:
            return spec.normalize
    return None


@dataclass
class _Forms:
    """Surface forms checked against the schema in use, so gold values come out canonical."""

    edu: dict[str, tuple[str, ...]]
    edu_short: dict[str, tuple[str, ...]]
    ind_bare: dict[str, tuple[str, ...]]      # fits "所属行业：X", table cells
    ind_suffixed: dict[str, tuple[str, ...]]  # fits "从事X", "在X深耕多年"
    majors: dict[str, tuple[str, ...]]


def _checked(forms: tuple[str, ...], norm: Optional[Normalizer], want: str) -> tuple[str, ...]:
    if norm is None:
        return forms
    return tuple(f for f in forms if normalize(f, norm)[0] == want)


def _build_forms(schema: Schema) -> _Forms:
    edu_norm = _field_norm(schema, "education")
    ind_norm = _field_norm(schema, "industry")
    pro_norm = _field_norm(schema, "major")
    edu, short = {}, {}
    for level, forms in EDU_FORMS.items():
        want = "硕士" if level == "MBA" else level
        edu[level] = _checked(forms, edu_norm, want) or forms
        short[level] = _checked(EDU_SHORT[level], edu_norm, want) or edu[level]
    bare, suffixed = {}, {}
    for sector in SECTORS:
        candidates = sector.cores + sector.extra
        with_suffix = tuple(c + s for c in sector.cores for s in ("行业", "领域")) + tuple(
            e for e in sector.extra if e.endswith("业")
        )
        # "农业" strips to "农" and "银行业" to "银" under the schema's suffix rule: such forms are dropped.
        b = _checked(tuple(c for c in candidates if not c.endswith(("行业", "领域"))), ind_norm, sector.name)
        s = _checked(with_suffix, ind_norm, sector.name)
        if not (b or s):
            raise ValueError(f"no industry mention of {sector.name} normalises to it under schema {schema.name!r}")
        bare[sector.name] = b or s
        suffixed[sector.name] = s or b
    majors = {}
    for m in set(MAJORS_HIGHER) | set(MAJORS_VOCATIONAL):
        variants = (m, m + "专业") + MAJOR_ALIASES.get(m, ()) + tuple(a + "专业" for a in MAJOR_ALIASES.get(m, ()))
        if m == "计算机科学与技术":
            variants += ("计算机系",)
        majors[m] = _checked(variants, pro_norm, m) or (m,)
    return _Forms(edu, short, bare, suffixed, majors)


# ---------------------------------------------------------------- profile


@dataclass
class _Edu:
    level: str
    school: str
    major: Optional[str]
    start: int
    end: int


@dataclass
class _Job:
    company: str
    sector: _Sector
    title: str
    start: int
    end: Optional[int]   # None: current job
    show_ind: bool
    duties: list[str]


@dataclass
class _Person:
    name: str
    gender: str
    birth: int
    city: str
    edus: list[_Edu]
    jobs: list[_Job]
    missing: set[str]
    target_sector: _Sector


def _school(rng: random.Random, level: str) -> str:
    if level == "高中":
        return rng.choice(HIGH_SCHOOLS)
    if level == "中专":
        return rng.choice(VOCATIONAL_SCHOOLS)
    if level == "大专":
        return rng.choice(COLLEGES)
    if level == "MBA":
        return rng.choice(BUSINESS_SCHOOLS)
    return rng.choice(UNIVERSITIES)


def _major(rng: random.Random, level: str, previous: Optional[str]) -> Optional[str]:
    if level == "高中":
        return None
    if level == "MBA":
        return "工商管理"
    if level in ("中专", "大专"):
        return rng.choice(MAJORS_VOCATIONAL)
    if previous and rng.random() < 0.6:
        return previous
    return rng.choice(MAJORS_HIGHER)


def _company(rng: random.Random, sector: _Sector) -> str:
    if rng.random() < 0.45:
        return rng.choice(sector.companies)
    city, brand, biz, suffix = rng.choice(CITIES), rng.choice(BRANDS), rng.choice(sector.biz), rng.choice(COMPANY_SUFFIXES)
    if rng.random() < 0.2:
        return f"{brand}{biz}（{city}）{suffix}"
    return f"{city}{brand}{biz}{suffix}"


def _person(rng: random.Random, long: bool, missing: set[str]) -> _Person:
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
    edus: list[_Edu] = []
    prev_major = None
    for lv in reversed(chain):  # oldest first so a later degree can keep the earlier major
        end = birth + EDU_AGE_DONE[lv] + rng.choice((0, 0, 1))
        major = None if "major" in missing else _major(rng, lv, prev_major)
        prev_major = major or prev_major
        edus.append(_Edu(lv, _school(rng, lv), major, end - EDU_YEARS[lv], end))
    edus.reverse()
    # Work starts after the first full-time degree; an MBA is taken while working.
    year = max(e.end for e in edus if e.level != "MBA")
    n_jobs = rng.randint(3, 6) if long else rng.choices((0, 1, 2, 3), weights=(0, 45, 40, 15))[0]
    if "industry" in missing and not long and rng.random() < 0.3:
        n_jobs = 0
    sector = rng.choice(SECTORS)
    target = sector
    jobs: list[_Job] = []
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
        jobs.append(_Job(_company(rng, sector), sector, rng.choice(sector.titles), year, end,
                         "industry" not in missing and (not jobs or rng.random() < 0.5),
                         rng.sample(pool, min(n_duties, len(pool)))))
        if end is None:
            break
        year = end
    jobs.reverse()  # most recent first, as résumés usually list them
    if jobs and "industry" not in missing and not any(j.show_ind for j in jobs):
        jobs[0].show_ind = True
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return _Person(name, rng.choice("男女"), birth, rng.choice(CITIES), edus, jobs, missing, target)


# ---------------------------------------------------------------- rendering


class _Renderer:
    def __init__(self, rng: random.Random, forms: _Forms, person: _Person) -> None:
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

    def ind(self, sector: _Sector, suffixed: bool) -> str:
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
    def header(self, style: str) -> _Frag:
        p, r, f = self.p, self.rng, _Frag()
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

    def contact(self) -> _Frag:
        r, f = self.rng, _Frag()
        phone = "1" + r.choice("3578") + "".join(r.choice("0123456789") for _ in range(9))
        user = r.choice(("zhang", "li", "wang", "chen", "liu", "hr", "job", "xiao")) + str(r.randint(1, 9999))
        mail = f"{user}@{r.choice(('163.com', 'qq.com', 'gmail.com', 'outlook.com', 'example.com'))}"
        if r.random() < 0.5:
            f.add(f"{r.choice(('电话', '手机', 'Tel', 'Phone'))}{self.colon()}{phone}\n"
                  f"{r.choice(('邮箱', 'Email', 'E-mail'))}{self.colon()}{mail}")
        else:
            f.add(f"联系方式{self.colon()}{phone}{self.comma()}{mail}")
        return f

    def intention(self) -> _Frag:
        p, r, f = self.p, self.rng, _Frag()
        f.add(self.title("求职意向", "Job Objective") + "\n")
        job = r.choice(p.target_sector.titles)
        f.add(f"期望职位{self.colon()}{job}")
        if "industry" not in p.missing and r.random() < 0.6:
            f.add(f"{r.choice(('；', ';', '  '))}期望行业{self.colon()}").add(self.ind(p.target_sector, False), "IND")
        f.add(f"{r.choice(('；', ';', '  '))}期望城市{self.colon()}{r.choice(CITIES)}")
        return f

    def education(self, style: str) -> _Frag:
        p, r, f = self.p, self.rng, _Frag()
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

    def edu_entry(self, e: _Edu, style: str, show_edu: bool) -> _Frag:
        r, f = self.rng, _Frag()
        dates = self.dates(e.start, e.end)
        if style == "prose":
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
        elif style == "kv":
            if r.random() < 0.4:
                gap = r.choice(("  ", " ", "   ", "\t"))
                f.add(dates + gap).add(e.school, "ORG")
                if e.major:
                    f.add(gap).add(self.major_form(e.major), "PRO")
                if show_edu:
                    f.add(gap).add(self.edu_form(e.level), "EDU")
            else:
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
        elif style == "bullets":
            f.add(self.bullet() + dates + r.choice(("，", " ", "  "))).add(e.school, "ORG")
            if e.major:
                f.add(self.comma()).add(self.major_form(e.major), "PRO")
            if show_edu:
                d = self.edu_form(e.level)
                if r.random() < 0.5:
                    f.add("（").add(d, "EDU").add("）")
                else:
                    f.add(self.comma()).add(d, "EDU")
        else:  # table
            s = self.sep()
            f.add(dates + s).add(e.school, "ORG")
            if e.major:
                f.add(s).add(self.major_form(e.major), "PRO")
            if show_edu:
                f.add(s).add(self.edu_form(e.level), "EDU")
        return f

    def work(self, style: str, max_duties: int) -> _Frag:
        p, r, f = self.p, self.rng, _Frag()
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

    def job_entry(self, job: _Job, style: str, ind_col: bool, duties: list[str]) -> _Frag:
        r, f = self.rng, _Frag()
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

    def projects(self, n: int, titled: bool = True) -> _Frag:
        r, f = self.rng, _Frag()
        if titled:
            f.add(self.title("项目经历", "Projects"))
        for name in r.sample(PROJECTS, min(n, len(PROJECTS))):
            f.add(f"\n项目名称{self.colon()}{name}（{r.randint(2010, 2023)}）\n"
                  f"项目描述{self.colon()}{self.comma().join(r.sample(PROJECT_LINES, 3))}。")
        return f

    def skills(self) -> _Frag:
        r, f = self.rng, _Frag()
        items = r.sample(SKILLS, r.randint(2, 4))
        f.add(self.title(r.choice(("专业技能", "技能", "技能证书")), "Skills") + "\n")
        if r.random() < 0.5:
            f.add("\n".join(self.bullet() + x for x in items))
        else:
            f.add(r.choice(("；", ";")).join(items) + "。")
        return f

    def self_assessment(self, n: int) -> _Frag:
        p, r, f = self.p, self.rng, _Frag()
        f.add(self.title("自我评价", "About Me") + "\n")
        if p.jobs and "industry" not in p.missing and r.random() < 0.35:
            years = max(1, 2024 - min(j.start for j in p.jobs))
            f.add(f"{years}年").add(self.ind(p.jobs[0].sector, True), "IND").add("从业经验" + self.comma())
        f.add("".join(r.sample(SELF_ASSESSMENT, min(n, len(SELF_ASSESSMENT)))))
        return f


def _render(rng: random.Random, forms: _Forms, person: _Person, long: bool) -> list[_Frag]:
    r = _Renderer(rng, forms, person)
    base = rng.choice(STYLES)
    header = r.header(r.style(base))
    edu = r.education(r.style(base)) if not ({"education", "major"} <= person.missing and rng.random() < 0.5) else None
    work_style = r.style(base)
    optional: dict[str, _Frag] = {"contact": r.contact(), "intention": r.intention(), "skills": r.skills(),
                                  "self": r.self_assessment(rng.randint(1, 3))}
    if long:
        work = r.work(work_style, 99)
        optional["projects"] = r.projects(rng.randint(2, 5))
        keep = ["contact", "intention", "skills", "self", "projects"]
    else:
        work = r.work(work_style, 2)
        lo, hi = TYPICAL_CHARS
        # Shed detail until the required sections fit the typical length band.
        if _total([header, work] + ([edu] if edu else [])) > hi - 40:
            work = r.work(work_style, 0)
        target = rng.randint(lo + 60, hi - 10)
        keep = []
        size = _total([header, work] + ([edu] if edu else []))
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
        while _total(frags) <= LONG_MIN_CHARS + 20:
            optional["projects"].extend(r.projects(2, titled=False))
    return frags


def generate_documents(
    n: int,
    seed: int = 0,
    long_fraction: float = 0.05,
    missing_fraction: float = 0.15,
    schema: Optional[Schema] = None,
) -> Iterator[Document]:
    """Yield ``n`` synthetic résumés; the same seed gives the same documents.

    About ``long_fraction`` of them are over 1,000 characters, the rest 150-600.
    About ``missing_fraction`` lack one or more of education/major/industry
    entirely (no mention at all); every other document mentions all three.
    ``fields`` are derived from the gold entities by ``schema``'s rules
    (default: ``schemas/resume.yaml``). Entities are always labelled EDU, PRO,
    IND and ORG; another schema only changes which surface forms are kept
    (those its rules normalise to the intended value) and how fields are built.
    """
    if schema is None:
        schema = Schema.load(DEFAULT_SCHEMA_PATH)
    forms = _build_forms(schema)
    rng = random.Random(seed)
    for i in range(1, n + 1):
        long = rng.random() < long_fraction
        missing: set[str] = set()
        if rng.random() < missing_fraction:
            missing = set(rng.sample(FIELD_NAMES, rng.choice((1, 1, 1, 2))))
        person = _person(rng, long, missing)
        frags = _render(rng, forms, person, long)
        text, entities = _assemble(frags, rng)
        yield Document(f"sample-{i:06d}", text, entities, field_strings(text, entities, schema))
