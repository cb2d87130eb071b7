"""nlp.emergency: danger to life now, apart from the category."""
import pytest

from nlp.emergency import detect

POSITIVE = [
    ("着火了", "fire", "119"),
    ("3号楼着火了快来人", "fire", "119"),
    ("楼道里好大的烟，什么都看不见", "fire", "119"),
    ("5楼窗户冒黑烟", "fire", "119"),
    ("电瓶车在楼道里自燃了", "fire", "119"),
    ("樓下起火了", "fire", "119"),                                  # 繁體
    ("闻到好大一股煤气味", "gas", "119"),
    ("厨房燃气泄漏了怎么关", "gas", "119"),
    ("单元里天然气味很重", "gas", "119"),
    ("电梯里关了个老人", "trapped", "96333"),
    ("我被困在电梯里了", "trapped", "96333"),
    ("电梯卡住了，我在里面", "trapped", "96333"),
    ("电梯困人了快来", "trapped", "96333"),
    ("有人在楼下打架", "violence", "110"),
    ("楼下有人持刀砍人", "violence", "110"),
    ("老人摔倒了起不来", "injury", "120"),
    ("有人晕倒了", "injury", "120"),
    ("楼上掉下来个花盆砸到人了流了好多血", "injury", "120"),
    ("小孩被狗咬了", "bite", "120"),
    ("上周电梯关过人今天又有人被关在电梯里了快来", "trapped", "96333"),   # past + present: now counts
    ("着火了有人受伤", "fire", "119"),                              # fire is called first
    ("奶奶在小区台阶上摔了，现在站不起来", "injury", "120"),          # fall and harm in two clauses
    ("儿子从单杠上掉下来，手腕好像断了", "injury", "120"),
    ("邻居被玻璃割伤了血止不住", "injury", "120"),
    ("我家燃气报警器响个不停", "gas", "119"),
    ("楼下天然气管子被挖破了，呲呲地往外冒", "gas", "119"),
    ("电梯停了，我们三个被关在里面", "trapped", "96333"),           # lift and people in two clauses
    ("电梯突然往下掉了好几层", "trapped", "96333"),
    ("门卫大爷被人打了，那伙人还在", "violence", "110"),
    ("有个男的拿着砖头追着人砸", "violence", "110"),
]

NEGATIVE = [
    "上周电梯关过人",                 # past, experiential 过
    "上个月3号楼着火了",               # past
    "昨天晚上有人打架",
    "灭火器过期了",                   # a hazard word, no incident
    "楼道堆物是火灾隐患",
    "飞线充电容易着火",               # hypothetical
    "万一着火怎么办",
    "差点砸到人",
    "电梯经常关人",                   # habitual complaint
    "没有人受伤",                     # negated
    "气死我了",                       # other senses
    "楼下火锅店太吵",
    "今天上火了",
    "楼下油烟好大",
    "打电话没人接",
    "燃气费怎么交",                   # gas, but no leak
    "停气了什么时候恢复",
    "电梯门关不上",
    "我想报名消防演练",
    "烟头从楼上扔下来",
    "我家燃气灶点不着火",              # 着火 inside 点不着火
    "做饭的时候满屋子都是烟",          # cooking smoke
    "电梯困人应该打什么电话",          # a question of procedure
    "听说别的小区电梯困人了",          # hearsay
    "孩子在学校跟同学打架了",          # not here, not now
    "邻居在楼道里杀鱼，血流了一地",     # slaughter, not injury
    "我的包裹卡在电梯门缝里了",         # an object, not a person
]


@pytest.mark.parametrize("text, kind, number", POSITIVE)
def test_emergency_detected(text, kind, number):
    e = detect(text)
    assert e is not None, text
    assert (e.kind, e.number) == (kind, number)
    assert e.advice and number in e.advice


@pytest.mark.parametrize("text", NEGATIVE)
def test_not_an_emergency(text):
    assert detect(text) is None, text


def test_gas_advice_says_what_not_to_do():
    advice = detect("闻到煤气味").advice
    assert "开窗" in advice and "不要开关" in advice


def test_clause_scope():
    # the past marker is in another clause: the fire is now
    assert detect("上周报修的灯还没修，现在楼道着火了") is not None
    # the negation is in another clause and does not cover the trigger
    assert detect("没人管，楼下着火了") is not None


def test_empty_and_huge():
    assert detect("") is None
    assert detect("楼道" * 50_000) is None


# Written as residents type in a hurry: spaces for punctuation, slips of the pinyin keyboard,
# Cantonese, other animals, states instead of words; and the near misses of each.
HURRIED = [
    ("我被关在电梯里 手机快没电了 快来", "trapped"),                # 手机 in another clause
    ("送外卖的小伙子困在3单元电梯里了", "trapped"),
    ("我在电梯里面 电梯不动了 谁来帮帮我", "trapped"),
    ("电梯门夹住一个老人 人出不来", "trapped"),
    ("电梯井里有人在喊救命", "trapped"),
    ("电体困人了 快来", "trapped"),                                  # 电体: 电梯
    ("部𨋢停咗 我哋困咗喺入面", "trapped"),                           # Cantonese
    ("着伙了 快跑", "fire"),
    ("配电箱在冒火花 还有烟", "fire"),
    ("有人在喊失火了 烟都进屋了怎么办", "fire"),                    # 怎么办 asks for help here
    ("然气漏了 满屋子味道", "gas"),                                  # 然气: 燃气
    ("屋里一股臭鸡蛋味 头好晕", "gas"),
    ("管道泄漏了 味道好大 快开窗", "gas"),
    ("一条大黄狗在咬一个小孩", "bite"),
    ("流浪狗还在追着人咬", "bite"),
    ("一群马蜂在蛰人", "bite"),
    ("路边窜出一条蛇 把老人的腿咬了", "bite"),
    ("有个工人从架子上摔下来了 躺在地上不动", "injury"),
    ("阿婆晕低咗 叫佢都冇反应", "injury"),                           # Cantonese
    ("老伴突然胸口疼 倒在床上了", "injury"),
    ("爸爸说话含糊 半边身子动不了", "injury"),
    ("小孩掉进没盖的下水井了", "injury"),
    ("两个男的打成一团 抡着凳子", "violence"),
    ("有人拿着菜刀在楼道里乱挥", "violence"),
    ("楼下有人撬车 快报警", "violence"),
    # said another way: who is in the lift, the gas by its signs, a stroke by its signs
    ("轿厢内困有两名住户 其中一名是孕妇", "trapped"),
    ("报警器一直嘀嘀嘀的响 屋里一股臭味 我妈说头疼想吐", "gas"),
    ("燃气表接口刷了肥皂水一直冒泡 味道越来越大", "gas"),
    ("物业 燃起泄漏 我家厨房 快来人", "gas"),                       # 燃起: 燃气
    ("有然气味 好冲", "gas"),                                        # 然气 keeps the 气 of 气味
    ("老爷子突然就抽过去了 嘴歪眼斜的 快帮忙叫个救护车", "injury"),
    ("老人刚才吃饭时突然说话不清楚 半边脸歪了", "injury"),
    ("救命 有人不行了 17栋", "injury"),
    ("狗要人了 快来 在东门", "bite"),                                # 要: 咬
    ("刚才下楼已经能看到明火往上窜", "fire"),                        # 能看到 is no 能 of possibility
    ("楼道里全是黑烟 呛得睁不开眼", "fire"),
    ("锅炉房后面那堆木料着了 火挺大", "fire"),
    ("有人在撬我家门锁 我躲在卧室里", "violence"),
    ("楼上男人打骂 女人哭喊求救", "violence"),
    ("一个男的推倒了阿姨 还在踹她", "violence"),
    # the danger described, not named
    ("烟雾报警器一直叫，屋里灰蒙蒙的什么都看不清，墙摸着发烫", "fire"),
    ("一楼那户烧炭盆取暖的，一家三口一天没出门了，敲门喊人都没动静", "gas"),   # carbon monoxide
    ("老人的腿被电梯门夹住了，门夹着不松", "trapped"),
    ("孩子把自己锁车里了，车停在太阳底下", "injury"),
    ("有人一路跟着我进小区，现在就在单元门外面，刚刚还在拉门", "violence"),
    ("狗把我手背撕下来一块肉", "bite"),
    ("刚在12栋门口被人抢了电动车 他还推我", "violence"),
    ("还真着火了 快来", "fire"),
    ("对门独居的张大爷三天没出门了，门口报纸一堆，叫他就是不答应", "injury"),
    ("楼下那家小孩爬到窗户外面空调架子上了", "injury"),
    ("隔壁两个工人早上到现在没起来，敲门不应，屋里昨晚上生了炉子", "gas"),
    ("村里谁家的牛挣了绳跑出来了，在路口顶人", "bite"),
    ("凌晨三点有人在拧我家门把手，一直拧", "violence"),
    ("店里来了几个人拿着钢管说不给钱就砸店", "violence"),
    ("湖里有个小孩在扑腾，旁边没有大人", "injury"),
    ("地下车库水已经到腰了，有个阿伯还在里面推车", "injury"),
    ("他在楼下 说我不下去就上来砍死我", "violence"),
    ("夜里三点 有人在我家门口拿东西捅锁眼", "violence"),
    ("救命 狗", "bite"),
    ("在电梯里 灯灭了 黑乎乎的 不动", "trapped"),
    # English, as domestic helpers and tenants write it
    ("Hi, the stairway smells very strong of gas right now, what should I do?", "gas"),
    ("Sir the kitchen have fire from the wok, still burning", "fire"),
    ("The neighbor dog bite my leg, bleeding", "bite"),
    ("I am STUCK in the lift at 12F", "trapped"),
    # round 5: dialect verbs, people held anywhere, swallowed things, pills with symptoms
    ("床上的电热毯燃起来了 娃儿还在屋头", "fire"),
    ("后面那排树都在烧 离车好近", "fire"),
    ("zhao huo le 5 dong", "fire"),
    ("楼道里全是臭鸡蛋味，整层都是", "gas"),
    ("煤气罐的阀门一直在呲气", "gas"),
    ("我被关在卫生间里了 门把手掉了", "trapped"),
    ("值班报告：一名工人被困于地下泵房内", "trapped"),
    ("车库淹水了 那辆车里还有人没出来", "trapped"),
    ("我在阳台收衣服 门被风带上反锁了 进不去 好冷", "trapped"),
    ("坐电梯坏在半路了 里面就我一个", "trapped"),
    ("孩子误吞了一个磁铁 一直干呕", "injury"),
    ("刚吃了好几片降压药 头晕心慌", "injury"),
    ("有个小孩被水冲进排水沟了", "injury"),
    ("外卖小哥连人带车掉进没盖的井里了", "injury"),
    ("窗外有人在扒我家防盗网", "violence"),
    ("他把我堵在门口不准我走，还在推我", "violence"),
    ("前夫在门外一直踹门，说要烧房子", "violence"),
    ("一条大狗把散步的阿姨和一个小孩都咬伤了", "bite"),
    ("小区进了一头野猪 把晨跑的人撞倒了在拱他", "bite"),
    # round 6: a door that will not open with someone behind it, people who do not respond, English
    ("门被风带上了 钥匙在里面 孩子一个人在屋里", "trapped"),
    ("储藏室里有人在拍门 门从外面锁着", "trapped"),
    ("我妈把自己锁在天台上了 下不来", "trapped"),
    ("小孩躲猫猫钻进楼下那个旧冰柜里了 盖子打不开", "trapped"),
    ("从窗户看见他躺在厨房地上 喊他没有反应", "injury"),
    ("隔着门听见老太太在里面喊起不来了", "injury"),
    ("宝宝把洗衣凝珠咬破了 一直在吐", "injury"),
    ("外墙那个吊篮绳子断了一边 上面还有人", "injury"),
    ("吵着吵着他直接动手了，把人按在地上打", "violence"),
    ("有个陌生男人要把小孩抱走 孩子一直哭", "violence"),
    ("地板烫脚 楼下有焦味", "fire"),
    ("The whole floor smells of rotten eggs, I feel dizzy", "gas"),
    ("Someone is trying to force the door of 1203 with a crowbar", "violence"),
    ("My grandmother fell in the kitchen and there is blood coming from her head", "injury"),
    # round 7: stuck limbs, buried workers, pits, Cantonese, first-candidate pinyin slips
    ("宝宝的头卡进床栏杆了 拔不出来", "injury"),
    ("工地沟槽塌了 一个工人被土埋住了", "trapped"),
    ("污水井里下去一个师傅 半天没有回应", "trapped"),
    ("外婆反锁在卫生间里 出不来了", "trapped"),
    ("升降機停咗 開唔到門", "trapped"),
    ("有人持匕首在车库拦车", "violence"),
    ("有人爆格 我匿喺房度", "violence"),
    ("没气味好重 5-301", "gas"),
    ("花坛边躺着个大爷 怎么叫都不醒", "injury"),
    # round 8
    ("我個仔困咗喺露台 門鎖咗", "trapped"),
    ("Two men are beating a guard at the gate", "violence"),
    ("Someone is climbing into my balcony from next door", "violence"),
    # round 9: what persists is happening now; double negation; a worker who does not move
    ("燃气味从昨晚一直有 现在满屋子都是 越来越重", "gas"),
    ("燃气公司说修好了，可是接口又在漏，味道比早上还大", "gas"),
    ("不是没着火，是已经烧起来了！配电箱", "fire"),
    ("工人从脚手架上摔下来了，一动不动", "injury"),
    ("楼上有烟从门底下冒出来，敲门没人应", "fire"),
    ("一个醉汉拎着把菜刀在院子里追人", "violence"),
    ("好几个人围着打一个学生", "violence"),
    ("那条狗挣开了，刚咬了一个遛弯的大爷", "bite"),
    ("A stray dog is attacking an old man, still biting his leg", "bite"),
    ("Carbon monoxide? we are dizzy and the heater is on", "gas"),
    # round 10: English read word by word, a courier bitten, residents who got out of a gas leak
    ("A man is kicking my door and shouting he will kill me", "violence"),
    ("there is a group of men beating one young guy at the back gate right now", "violence"),
    ("The big dog from 3-11 run out and bite the delivery guy", "bite"),
    ("my friend is locked inside the storage room, he is shouting, very hot", "trapped"),
    ("那条狗发疯咬人，刚咬到送快递的小伙子，还在楼下跑", "bite"),
    ("燃气表那里嘶嘶的一直在漏，味道很冲，我们已经出来了，快派人", "gas"),
    ("隔壁那口子又开始揍他媳妇了，往墙上撞", "violence"),
    ("我 家 着 火 了", "fire"),
    ("grandpa is choking on food, face turning purple", "injury"),
    ("the charger of the scooter is burning in the living room", "fire"),
]

NOT_NOW = [
    "发生火灾怎么办",                         # knowledge, not help: 怎么办 right after the trigger
    "闻到煤气味应该怎么办",
    "群里说5号楼着火了 是谣言",                # a hoax said so
    "刚才以为漏气了 燃气公司看过了没事",
    "抖音上看到有人被困电梯的视频",
    "老家那边有人持刀伤人",
    "这个月电费炸了",
    "两只猫在草地上打架",
    "楼道扶手断了 我差点摔了",
    "狗没咬到人 就是叫得凶",
    "被狗咬了要去哪里打狂犬疫苗",
    "烟雾报警器一直嘀嘀响 是不是没电了",
    "电梯里有人抽烟 一股烟味",
    "电梯里的困人求助电话贴纸掉了",
    "最近小区群里火药味很浓 大家和气一点",     # figurative
    "最近股票被套牢了 跟困在电梯里一样憋屈",   # a simile
    "那个被马蜂蛰的小孩已经出院了",
    "小区里那只流浪狗被车撞了 流了好多血",     # an animal, not a person
    "昨天一条小狗被进出的车撞了 当场就不行了",
    "昨天中午邻居家厨房着火 消防车来了已经灭了 还有一股焦糊味散不掉",
    "上个礼拜阿拉楼里电梯关牢人",              # Shanghainese: last week
    "前几天我家老人在楼下晕倒 现在已经出院了",  # 现在 with 已经: over
    "昨天晚上有个人被关在电梯里那个事情是几点放出来的然后我想问问那个电梯现在能坐吗",
    "请问晕倒了应该怎么急救 想学一下",
    "被狗咬了要打狂犬疫苗吗 没出血 上周的",
    "虽然气温低 燃气灶还是打不着火",          # 虽然|气温: no 燃气 made of 然气
    "小孩被狗抓了一下 没出血 要不要打疫苗",
    "消防通道又被车堵了，真着火了消防车都进不来",   # what if
    "新闻报道说隔壁区昨晚电动车起火 有人受伤",
    "刚才油锅起火了，我盖上锅盖就灭了，人没事",
    "打架的已经走了",
    "我屋企只狗琴日咬咗人 伤口已经包好",         # Cantonese: yesterday
    "天然气灶点火要打好几次才着，火苗还小",
    "楼下烧腊店每天下午熏鸭子，烟直接往上窜",
    "最近半个月连着有三户被撬门",
    "刚才楼下有人喊着火了，下去一看是几个小孩在放孔明灯",   # the scare is over
    "刚才的电梯困人已经解决了，谢谢维保师傅",
    "我家狗被别人家的狗咬了，现在在宠物医院",
    "转发：冬季烧炭取暖中毒事件多发，睡前一定要开窗通风",
    "我梦见小区着火了吓醒了",
    "我家老头说闻着有煤气味，燃气公司来人查了，没漏，虚惊一场",
    "群里有人说3栋电梯关人了，我刚去问了，人已经出来了",
    "The smoke alarm in 1203 went off because my helper burned the toast, all fine now",
    "Please check the fire extinguisher in the lobby",
    # round 5: a pet as the victim, a scare sorted, talk about an incident, hyperbole
    "我们家泰迪被一只大狗咬了，已经在宠物医院缝针了",
    "楼下邻居的猫被车撞了，流了好多血",
    "早上电梯困人的事你们太慢了，我们被关了半小时才出来",
    "我被困在这个破小区八年了，物业一直不管",
    "刚才厨房油锅起火了，盖上锅盖就灭了，没事了",
    "燃气报警器一直滴滴响，闻了没有味道，是不是没电了",
    "楼上天天半夜拖椅子，吵得我都想杀人了",
    "群里那个着火的视频不是我们小区的，别转了",
    "电梯里贴着写了救命被困的纸条，是小孩恶作剧",
    "我家狗狗在草坪吃了东西，现在抽搐吐白沫",
    # round 6
    "两只猫在车棚顶上打架，叫得跟小孩哭似的",
    "隔壁两口子又吵到半夜，没动手，就是声音大",
    "热水器打了好几次火都没反应，是不是要换电池",
    "闻到一点煤气味，燃气公司来看过了，阀门已经换好了",
    "楼下在搞消防演练，喇叭里一直喊着火了",
    "蛋糕烤糊了冒烟把烟感弄响了，没着火，抱歉",
    "我家狗把隔壁晾的拖鞋咬了，他们要我赔",
    "刚才电梯顿了一下，还好门开了我出来了",
    "楼道里有怪味，不是煤气，是死老鼠的臭味",
    "Someone slipped on the wet stairs yesterday, he's ok now, please put up a sign",
    "Smells like rotten eggs near the bins, gas company checked, no leak",
    # round 7
    "关于上月两次电梯困人事件的投诉，请公开维保记录",
    "燃气报警器一直叫 应该是电池没电了",
    "有个人晕车吐在电梯里了 来打扫一下",
    "对门在撬锁 原来是开锁师傅 虚惊",
    "草坪上有人烧烤，烟好大，熏得窗户都不敢开",
    "一股焦味 下楼一看原来是楼上在炒辣椒",
    "保安亭太热了，保安大哥都快热晕了，装个空调吧",
    "地库排风扇不转，闷得喘不过气",
    "隔壁的狗把我家猫咬了，猫腿在流血，要他赔",
    "The kids hit the ball over the fence into my garden again",
    # round 9
    "物业费账单看得我火大，头顶都冒烟了",
    "阳台上有人烤羊肉串，窗户一开全是烟",
    "刚才一股糊味，原来是楼下在烤白薯，没事儿了",
    "看新闻说隔壁小区电梯困人三小时，咱们的电梯也该检修了",
    "修路一个月，我们等于被困在小区里了",
    "又停电了，电梯里是不是又要关人了",
    "燃气报警器一直响，后来发现是报警器坏了",
    # round 10
    "燃气管道改造把墙打了个洞，灰尘满屋子都是",
    "楼下在拍短视频，演打架，又喊救命又拿假刀",
    "物业费又涨，这跟拿刀抢劫有什么区别",
    "燃气味！哦不对，是楼下在炸臭豆腐",
    "一只流浪猫掉进排水井里了，一直在叫",
    "燃气公司来看过说不漏气，但管子要换",
    "The durian smell is very strong, I thought gas leak at first",
    "I am choking on this parking fee",
    "Bleeding money every month on this parking fee",
    "My neighbour says my dog was biting her dog, can we check the camera",
    "The mailbox door fell off, can fix?",
    "The BBQ at the clubhouse, smoke everywhere, can tell them stop",
]


@pytest.mark.parametrize("text, kind", HURRIED)
def test_hurried_emergencies(text, kind):
    e = detect(text)
    assert e is not None and e.kind == kind, (text, e)


@pytest.mark.parametrize("text", NOT_NOW)
def test_near_misses_stay_quiet(text):
    assert detect(text) is None


def test_settled():
    from nlp.emergency import settled
    assert settled("刚才闻到煤气味 虚惊一场") and settled("Smoke alarm went off, all FINE now")
    assert not settled("闻到煤气味 好大") and not settled("")


def test_decide_weighs_rules_and_head():
    from nlp import emergency as E
    fire, gas = E.of_kind("fire"), E.of_kind("gas")
    assert fire.number == "119" and "119" in fire.advice
    assert E.decide(None, E.THRESHOLD + 0.001, gas) == gas             # the head alone, when sure
    assert E.decide(None, E.THRESHOLD, gas) is None
    assert E.decide(fire, E.THRESHOLD + 0.001, gas) == fire            # the rules name the kind
    assert E.decide(fire, 0.0, None) == fire                           # a rule stands on its own
    # unsure: a caution of the head's kind, only when nothing is reported
    assert E.caution(None, E.CAUTION + 0.001, gas) == gas
    assert E.caution(None, E.CAUTION, gas) is None and E.caution(fire, 0.5, gas) is None


def test_what_rules_a_kind_out_holds_for_the_head_too():
    from nlp import emergency as E
    from nlp.normalize import normalize
    assert E.ruled_out(normalize("一只小狗被车撞了躺在路边"), "injury")
    assert not E.ruled_out(normalize("一个小孩被车撞了躺在路边"), "injury")
    assert not E.ruled_out(normalize("一只小狗被车撞了躺在路边"), "fire")     # only the kind it names
    assert not E.ruled_out("", "no-such-kind")


def test_kind_names_are_what_staff_type():
    from nlp import emergency as E
    names = E.kind_names()
    assert names["fire"] == "火情" and names["trapped"] == "有人被困"
    assert set(names) == {"fire", "gas", "trapped", "violence", "bite", "injury"}


def test_trapped_outside_a_lift_is_told_to_call_119():
    lift, balcony = detect("3号楼电梯困人了"), detect("孩子被锁在阳台上了 门打不开")
    assert lift.kind == balcony.kind == "trapped"
    assert lift.number == "96333" and "96333" in lift.advice
    assert balcony.number == "119" and "119" in balcony.advice and "电梯" not in balcony.advice
    from nlp import emergency as E
    assert E.fit(None, "x") is None and E.fit(E.of_kind("fire"), "阳台") == E.of_kind("fire")
